// Package agent is the wire protocol between pocketdock on the host and
// pocketdock-init, the agent that runs as PID 1 in every container, and the
// host-side client of that protocol (Dial, Conn, Run).
//
// # Framing
//
// A frame is a 4-byte big-endian length followed by that many bytes of one
// JSON object (a Message). A frame holds at most MaxFrameSize bytes of JSON.
// File descriptors ride on a frame as SCM_RIGHTS ancillary data attached to
// its first byte; only exec (three plus ExtraFiles), detach (three) and
// file (one) requests carry any.
//
// # Conversation
//
// The host connects to the listening unix socket it handed to PID 1 and
// sends {"type":"hello","version":2}; the agent answers with its own hello,
// or with {"type":"error","version":V,"message":...} when it does not speak
// the host's version. Either side treats a version mismatch as an error.
// Then, one command at a time per connection:
//
//	host  -> {"type":"exec","exec":{ExecRequest}}   + fds stdin, stdout, stderr
//	agent -> {"type":"started","pid":N}  or  {"type":"error","message":...}
//	host  -> {"type":"signal","signal":S}           (any number, optional)
//	agent -> {"type":"exit","code":C}
//
// If the connection drops before the exit frame, the agent kills the
// command's whole tree. An exec may carry ExecRequest.ExtraFiles more fds
// (the command's fds 3, 4, ...), and with ExecRequest.Tty the three fds are
// one pty slave that becomes the command's controlling terminal.
//
// Version 2 adds detached jobs, file operations and the extras above (see
// jobs.go and files.go of this package):
//
//	host  -> {"type":"detach","exec":{...},"detach":{DetachRequest}} + fds stdin, stdout file, stderr file
//	agent -> {"type":"started","pid":N,"job":J}            (the job outlives the connection)
//	host  -> {"type":"jobs"}                  agent -> {"type":"jobs","jobs":[JobInfo...]}
//	host  -> {"type":"job_wait","job":J}      agent -> {"type":"jobs","jobs":[JobInfo]} once J ended
//	host  -> {"type":"job_signal","job":J,"signal":S}     agent -> {"type":"ok"}
//	host  -> {"type":"file","file":{FileRequest}} + one pipe fd
//	agent -> {"type":"ok"} after the transfer, or {"type":"error","errno":E,...}
//
// Every frame has a "type"; receivers ignore fields they do not know, so
// later message kinds and fields can be added without a version bump as
// long as old peers can ignore them.
//
// # Trust
//
// The host treats the agent as untrusted (container root can ptrace or
// replace it): frames are bounded, every value the agent sends is validated,
// and nothing it sends is used as a host path.
//
// This package imports only the standard library and golang.org/x/sys, and
// has no package-level initialisation work, because pocketdock-init (PID 1 of
// every container) links it.
package agent

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"golang.org/x/sys/unix"
)

// ProtocolVersion is the version of the wire protocol spoken by this package,
// sent in both hello frames.
const ProtocolVersion = 2

// MaxFrameSize is the largest JSON body of one frame, in bytes (1 MiB). A
// frame announcing more is rejected with ErrFrameTooLarge before anything
// else of it is read.
const MaxFrameSize = 1 << 20

// Message types: the value of Message.Type.
const (
	// TypeHello is the first frame in each direction; Version is set.
	TypeHello = "hello"
	// TypeExec (host -> agent) starts a command: Exec is set, and the frame
	// carries three fds (stdin, stdout, stderr).
	TypeExec = "exec"
	// TypeStarted (agent -> host) answers TypeExec: Pid is the command's pid
	// in the container's PID namespace.
	TypeStarted = "started"
	// TypeSignal (host -> agent) signals every process of the running
	// command's tree: Signal is the signal number (1..64).
	TypeSignal = "signal"
	// TypeExit (agent -> host) reports the end of the command: Code is the
	// exit code (0..255; 128+n when killed by signal n).
	TypeExit = "exit"
	// TypeError (either way) reports a failure of the last request: Message
	// is a human-readable reason. In answer to a hello, Version is the
	// version the agent speaks.
	TypeError = "error"
)

// Message is one frame's JSON object. Type says which other fields are
// meaningful (see the Type constants); the others are left zero and omitted.
type Message struct {
	// Type is the kind of message; never empty on the wire.
	Type string `json:"type"`
	// Version is the protocol version (hello, and error answering a hello).
	Version int `json:"version,omitempty"`
	// Exec is the command to start (exec).
	Exec *ExecRequest `json:"exec,omitempty"`
	// Pid is the started command's pid in the container (started).
	Pid int `json:"pid,omitempty"`
	// Signal is a signal number, 1..64 (signal).
	Signal int `json:"signal,omitempty"`
	// Code is the command's exit code, 0..255 (exit); a pointer so that
	// code 0 is distinguishable from a missing field.
	Code *int `json:"code,omitempty"`
	// Message is a human-readable reason (error).
	Message string `json:"message,omitempty"`
	// Job is a detached job's ID, 1..MaxJobID (started answering detach,
	// job_wait, job_signal).
	Job int `json:"job,omitempty"`
	// Detach holds a detach request's options (detach).
	Detach *DetachRequest `json:"detach,omitempty"`
	// Jobs lists detached jobs (jobs).
	Jobs []JobInfo `json:"jobs,omitempty"`
	// File is a file operation (file).
	File *FileRequest `json:"file,omitempty"`
	// Errno is the errno of a failed file operation, when it has one
	// (error), e.g. 2 for ENOENT.
	Errno int `json:"errno,omitempty"`
}

// Sentinel errors of this package; match them with errors.Is.
var (
	// ErrProtocol means the peer broke the protocol: a malformed or
	// unexpected frame, bad JSON, a missing "type", an out-of-range value,
	// or file descriptors where none (or fewer) were allowed.
	ErrProtocol = errors.New("agent protocol error")
	// ErrFrameTooLarge means a frame (sent or received) exceeds
	// MaxFrameSize. Errors carrying it also match ErrProtocol when the frame
	// was received.
	ErrFrameTooLarge = errors.New("agent frame too large")
	// ErrVersionMismatch means the two sides speak different protocol
	// versions.
	ErrVersionMismatch = errors.New("agent protocol version mismatch")
	// ErrInvalidRequest means an ExecRequest (or another argument) is not
	// valid; the message names the bad value and what is allowed.
	ErrInvalidRequest = errors.New("invalid agent request")
	// ErrStart means the agent could not start the command (for example the
	// working directory does not exist); the agent's reason is in the
	// message. A program that is not found or not executable is not an
	// ErrStart: it gives exit code 127 or 126.
	ErrStart = errors.New("agent could not start the command")
	// ErrClosed means the connection to the agent ended (or was closed)
	// before the awaited answer arrived, e.g. because the container stopped.
	ErrClosed = errors.New("agent connection closed")
)

// ExecRequest describes one command for the agent to run in the container.
type ExecRequest struct {
	// Argv is the command and its arguments; required, Argv[0] non-empty.
	// Argv[0] without a "/" is looked up in the PATH of Env like execvp
	// does (a missing PATH means
	// /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin).
	Argv []string `json:"argv"`
	// Env is the command's full environment, each entry "KEY=VALUE".
	Env []string `json:"env,omitempty"`
	// Cwd is the absolute working directory in the container; "" means "/".
	Cwd string `json:"cwd,omitempty"`
	// UID and GID are the numeric user and group the command runs as
	// (4294967295, the "no change" value of setuid(2), is refused).
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
	// Groups are the supplementary groups (at most MaxGroups); empty means
	// none.
	Groups []uint32 `json:"groups,omitempty"`
	// ExtraFiles is how many fds after stdin, stdout and stderr the exec
	// frame carries (0..MaxExtraFiles); the command gets them as fds 3, 4, ...
	ExtraFiles int `json:"extra_files,omitempty"`
	// Tty: the three fds are a pty slave, made the command's controlling
	// terminal (the command is a session leader anyway).
	Tty bool `json:"tty,omitempty"`
}

// MaxExtraFiles is the most extra fds an exec may carry.
const MaxExtraFiles = 4

// MaxGroups is the largest number of supplementary groups an ExecRequest
// may carry (the kernel's NGROUPS_MAX).
const MaxGroups = 65536

// Validate reports whether r is well-formed: Argv non-empty with a non-empty
// Argv[0], no NUL byte in any string, every Env entry of the form KEY=VALUE
// with a non-empty KEY, Cwd empty or absolute, UID and GID not 4294967295,
// at most MaxGroups groups, ExtraFiles in 0..MaxExtraFiles. The error wraps ErrInvalidRequest and names the
// bad value.
func (r *ExecRequest) Validate() error {
	if r == nil {
		return fmt.Errorf("%w: missing exec request", ErrInvalidRequest)
	}
	if len(r.Argv) == 0 || r.Argv[0] == "" {
		return fmt.Errorf("%w: argv %q: need at least a non-empty program name", ErrInvalidRequest, r.Argv)
	}
	for _, a := range r.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("%w: argv element %q: NUL bytes are not allowed", ErrInvalidRequest, a)
		}
	}
	for _, e := range r.Env {
		if i := strings.IndexByte(e, '='); i <= 0 {
			return fmt.Errorf("%w: env entry %q: want KEY=VALUE with a non-empty KEY", ErrInvalidRequest, e)
		}
		if strings.IndexByte(e, 0) >= 0 {
			return fmt.Errorf("%w: env entry %q: NUL bytes are not allowed", ErrInvalidRequest, e)
		}
	}
	if r.Cwd != "" && (r.Cwd[0] != '/' || strings.IndexByte(r.Cwd, 0) >= 0) {
		return fmt.Errorf("%w: cwd %q: want an absolute path without NUL bytes, or \"\" for /", ErrInvalidRequest, r.Cwd)
	}
	if r.UID == ^uint32(0) || r.GID == ^uint32(0) {
		return fmt.Errorf("%w: uid %d / gid %d: 4294967295 is not a valid id", ErrInvalidRequest, r.UID, r.GID)
	}
	if len(r.Groups) > MaxGroups {
		return fmt.Errorf("%w: %d supplementary groups: at most %d are allowed", ErrInvalidRequest, len(r.Groups), MaxGroups)
	}
	for _, g := range r.Groups {
		if g == ^uint32(0) {
			return fmt.Errorf("%w: supplementary group 4294967295 is not a valid id", ErrInvalidRequest)
		}
	}
	if r.ExtraFiles < 0 || r.ExtraFiles > MaxExtraFiles {
		return fmt.Errorf("%w: %d extra files: want 0..%d", ErrInvalidRequest, r.ExtraFiles, MaxExtraFiles)
	}
	return nil
}

// WriteMessage marshals m and writes it to c as one frame, with fds (if any)
// attached as SCM_RIGHTS. fds are not closed. It returns an error wrapping
// ErrFrameTooLarge if the JSON exceeds MaxFrameSize, ErrProtocol if m.Type is
// empty, or the socket's write error. Callers serialise concurrent writers.
func WriteMessage(c *net.UnixConn, m *Message, fds ...int) error {
	if m == nil || m.Type == "" {
		return fmt.Errorf("%w: message without a type", ErrProtocol)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s frame: %w", m.Type, err)
	}
	if len(body) > MaxFrameSize {
		return fmt.Errorf("%s frame of %d bytes: %w (max %d)", m.Type, len(body), ErrFrameTooLarge, MaxFrameSize)
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	n, _, err := c.WriteMsgUnix(buf, oob, nil)
	if err != nil {
		return fmt.Errorf("write %s frame: %w", m.Type, err)
	}
	if n < len(buf) {
		if _, err := c.Write(buf[n:]); err != nil {
			return fmt.Errorf("write %s frame: %w", m.Type, err)
		}
	}
	return nil
}

// ReadMessage reads one frame from c. It accepts up to maxFDs file
// descriptors on the frame and returns them (close-on-exec; the caller owns
// them and must close them, also on error paths it takes later). On any
// error, fds received so far are closed and nil is returned with it.
//
// Errors: io.EOF when the peer closed the connection cleanly between frames;
// io.ErrUnexpectedEOF inside a frame; an error wrapping ErrFrameTooLarge and
// ErrProtocol for a length above MaxFrameSize; ErrProtocol for a zero
// length, bad JSON, a missing type or more than maxFDs descriptors; the
// socket's read error (including deadline errors) otherwise.
func ReadMessage(c *net.UnixConn, maxFDs int) (*Message, []int, error) {
	r := frameReader{c: c}
	if maxFDs > 0 {
		r.oob = make([]byte, unix.CmsgSpace(maxFDs*4))
	}
	var hdr [4]byte
	if err := r.readFull(hdr[:], true); err != nil {
		r.closeFDs()
		return nil, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrameSize {
		r.closeFDs()
		return nil, nil, fmt.Errorf("%w: %w: frame of %d bytes (max %d)", ErrProtocol, ErrFrameTooLarge, n, MaxFrameSize)
	}
	if n == 0 {
		r.closeFDs()
		return nil, nil, fmt.Errorf("%w: empty frame", ErrProtocol)
	}
	body := make([]byte, n)
	if err := r.readFull(body, false); err != nil {
		r.closeFDs()
		return nil, nil, err
	}
	if r.truncated || len(r.fds) > maxFDs {
		r.closeFDs()
		return nil, nil, fmt.Errorf("%w: more file descriptors than the %d allowed on a frame", ErrProtocol, maxFDs)
	}
	m, err := DecodeMessage(body)
	if err != nil {
		r.closeFDs()
		return nil, nil, err
	}
	return m, r.fds, nil
}

// DecodeMessage parses one frame body. It returns an error wrapping
// ErrProtocol for bad JSON, a JSON value that is not an object, or a missing
// type. Unknown fields are ignored.
func DecodeMessage(body []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: bad JSON in frame: %v", ErrProtocol, err)
	}
	if m.Type == "" {
		return nil, fmt.Errorf("%w: frame without a type", ErrProtocol)
	}
	return &m, nil
}

// frameReader reads exact byte counts from a unix stream socket, collecting
// any SCM_RIGHTS descriptors that arrive with them. It never reads past the
// current frame, so descriptors of the next frame are never taken.
type frameReader struct {
	c         *net.UnixConn
	oob       []byte
	fds       []int
	truncated bool
}

func (r *frameReader) readFull(buf []byte, atStart bool) error {
	off := 0
	for off < len(buf) {
		n, oobn, flags, _, err := r.c.ReadMsgUnix(buf[off:], r.oob)
		if oobn > 0 {
			r.collect(r.oob[:oobn])
		}
		if flags&unix.MSG_CTRUNC != 0 {
			r.truncated = true
		}
		off += n
		if err == nil && n == 0 {
			err = io.EOF
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if atStart && off == 0 {
					return io.EOF
				}
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

func (r *frameReader) collect(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		r.truncated = true
		return
	}
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		r.fds = append(r.fds, fds...)
	}
}

func (r *frameReader) closeFDs() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}

// sanitize makes a string that came from the agent safe to show: at most
// 512 bytes, valid UTF-8, control characters replaced by spaces.
func sanitize(s string) string {
	const max = 512
	if len(s) > max {
		s = s[:max] + "..."
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}
