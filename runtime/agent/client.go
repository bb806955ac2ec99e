package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Bounds on how long the host waits for the (untrusted) agent's answers when
// the caller gave no earlier deadline.
const (
	// handshakeTimeout bounds Dial's hello exchange.
	handshakeTimeout = 10 * time.Second
	// startTimeout bounds Start's wait for "started" or "error".
	startTimeout = 30 * time.Second
	// maxSkippedFrames bounds how many frames of unknown type the host
	// skips while it waits for an answer.
	maxSkippedFrames = 64
	// maxPid is the largest pid Linux hands out (PID_MAX_LIMIT).
	maxPid = 1 << 22
	// sunPathMax is the longest socket path connect(2) takes directly; longer
	// ones go through /proc/self/fd.
	sunPathMax = 100
)

// Conn is one connection to a container's agent, after a successful
// handshake. It runs one command at a time: Start, then any number of
// Signal calls, then Wait; after Wait returns, Start may be called again.
// Signal and Close may be called concurrently with Wait; Start and Wait must
// not run concurrently with each other.
type Conn struct {
	c   *net.UnixConn
	wmu sync.Mutex // serialises frame writes

	mu      sync.Mutex // guards the fields below
	running bool       // Start succeeded and Wait has not seen the exit yet
	closed  bool
}

// Dial connects to the agent listening on the unix socket socketPath (a host
// path, which may be longer than sun_path's 108 bytes: the directory is then
// opened O_PATH and /proc/self/fd/N/<base> is connected to) and performs the
// hello handshake. ctx bounds the connect and the handshake; without a
// deadline the handshake is still bounded to 10 s.
//
// Errors: the connect error (e.g. ENOENT or ECONNREFUSED when the container
// is gone), ctx's error, an error wrapping ErrVersionMismatch if the agent
// speaks another protocol version, ErrProtocol for a malformed answer, or
// ErrClosed if the agent hung up (it refuses peers it does not trust).
func Dial(ctx context.Context, socketPath string) (*Conn, error) {
	addr := socketPath
	if len(socketPath) > sunPathMax {
		dir, base := filepath.Split(socketPath)
		dirfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("agent dial %q: open directory: %w", socketPath, err)
		}
		defer unix.Close(dirfd)
		prefix := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/"
		addr = prefix + base
		if len(addr) > sunPathMax+7 {
			return nil, fmt.Errorf("%w: agent socket name %q is too long (its last element may have at most %d bytes)", ErrInvalidRequest, base, sunPathMax+7-len(prefix))
		}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		return nil, fmt.Errorf("agent dial %q: %w", socketPath, err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("agent dial %q: not a unix socket", socketPath)
	}
	c := &Conn{c: uc}
	if err := c.handshake(ctx); err != nil {
		uc.Close()
		return nil, fmt.Errorf("agent handshake %q: %w", socketPath, err)
	}
	return c, nil
}

func (c *Conn) handshake(ctx context.Context) error {
	deadline := time.Now().Add(handshakeTimeout)
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	c.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	err := c.doHandshake()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if ctxDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
			// The socket's timer fired a moment before ctx's.
			return context.DeadlineExceeded
		}
		return err
	}
	if !stop() {
		return ctx.Err()
	}
	c.c.SetDeadline(time.Time{})
	return nil
}

func (c *Conn) doHandshake() error {
	if err := c.write(&Message{Type: TypeHello, Version: ProtocolVersion}); err != nil {
		return err
	}
	m, err := c.read()
	if err != nil {
		return err
	}
	switch m.Type {
	case TypeHello:
		if m.Version != ProtocolVersion {
			return fmt.Errorf("%w: agent speaks version %d, this host speaks %d", ErrVersionMismatch, m.Version, ProtocolVersion)
		}
		return nil
	case TypeError:
		if m.Version != ProtocolVersion {
			return fmt.Errorf("%w: agent speaks version %d, this host speaks %d: %s", ErrVersionMismatch, m.Version, ProtocolVersion, sanitize(m.Message))
		}
		return fmt.Errorf("%w: agent refused the handshake: %s", ErrProtocol, sanitize(m.Message))
	default:
		return fmt.Errorf("%w: expected a hello frame, got %q", ErrProtocol, sanitize(m.Type))
	}
}

// Close closes the connection. If a command is still running, the agent
// kills its whole tree. Close is safe to call more than once.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	return c.c.Close()
}

// Start sends req with three files: stdin (a read end), stdout and stderr
// (write ends). They are passed to the agent as SCM_RIGHTS and put in
// blocking mode (the command shares them); Start does not close them — the
// caller closes its copies after Start returns, so that EOF can be seen.
// It returns the command's pid in the container's PID namespace once the
// agent reports it started, waiting at most 30 s.
//
// Errors: ErrInvalidRequest (bad req, nil file, a command already running on
// this Conn), ErrStart with the agent's reason, ErrProtocol for a malformed
// or out-of-range answer, ErrClosed if the connection ended, or a socket
// error.
func (c *Conn) Start(req ExecRequest, stdin, stdout, stderr *os.File) (pid int, err error) {
	if err := req.Validate(); err != nil {
		return 0, err
	}
	if stdin == nil || stdout == nil || stderr == nil {
		return 0, fmt.Errorf("%w: start %q: stdin, stdout and stderr must all be open files", ErrInvalidRequest, req.Argv[0])
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, fmt.Errorf("start %q: %w", req.Argv[0], ErrClosed)
	}
	if c.running {
		c.mu.Unlock()
		return 0, fmt.Errorf("%w: start %q: a command is already running on this connection", ErrInvalidRequest, req.Argv[0])
	}
	c.mu.Unlock()

	// Fd puts each file in blocking mode, which the command needs.
	fds := []int{int(stdin.Fd()), int(stdout.Fd()), int(stderr.Fd())}
	err = c.write(&Message{Type: TypeExec, Exec: &req}, fds...)
	runtime.KeepAlive(stdin)
	runtime.KeepAlive(stdout)
	runtime.KeepAlive(stderr)
	if err != nil {
		return 0, fmt.Errorf("start %q: %w", req.Argv[0], err)
	}
	c.c.SetReadDeadline(time.Now().Add(startTimeout))
	defer c.c.SetReadDeadline(time.Time{})
	for skipped := 0; ; skipped++ {
		m, err := c.read()
		if err != nil {
			return 0, fmt.Errorf("start %q: %w", req.Argv[0], err)
		}
		switch m.Type {
		case TypeStarted:
			if m.Pid <= 0 || m.Pid > maxPid {
				return 0, fmt.Errorf("%w: start %q: agent reported pid %d (want 1..%d)", ErrProtocol, req.Argv[0], m.Pid, maxPid)
			}
			c.mu.Lock()
			c.running = true
			c.mu.Unlock()
			return m.Pid, nil
		case TypeError:
			return 0, fmt.Errorf("%w: %q: %s", ErrStart, req.Argv[0], sanitize(m.Message))
		case TypeExit, TypeHello:
			return 0, fmt.Errorf("%w: start %q: unexpected %q frame before started", ErrProtocol, req.Argv[0], m.Type)
		}
		if skipped >= maxSkippedFrames {
			return 0, fmt.Errorf("%w: start %q: too many frames of unknown type", ErrProtocol, req.Argv[0])
		}
	}
}

// Signal sends sig to every process of the running command's tree (the
// command and all its descendants, including those that called setsid).
// For SIGKILL the agent repeats until none is left; the exit frame follows
// once the tree is gone. After the command has exited, Signal does nothing.
//
// Errors: ErrInvalidRequest for a signal outside 1..64 or when no command
// was started; ErrClosed or a socket error if the frame could not be sent.
func (c *Conn) Signal(sig syscall.Signal) error {
	if sig < 1 || sig > 64 {
		return fmt.Errorf("%w: signal %d: want 1..64", ErrInvalidRequest, int(sig))
	}
	c.mu.Lock()
	running, closed := c.running, c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("signal %d: %w", int(sig), ErrClosed)
	}
	if !running {
		return nil
	}
	if err := c.write(&Message{Type: TypeSignal, Signal: int(sig)}); err != nil {
		return fmt.Errorf("signal %d: %w", int(sig), err)
	}
	return nil
}

// Wait blocks until the started command exits and returns its exit code:
// the code if it exited, 128+n if signal n killed it, 127 if Argv[0] was not
// found, 126 if it was not executable. The agent's value is validated to be
// in 0..255. Wait has no timeout of its own; Close (from another goroutine)
// or Signal(SIGKILL) ends it.
//
// Errors: ErrInvalidRequest if no command was started; ErrClosed if the
// connection ended first; ErrProtocol for a malformed or out-of-range
// answer; a socket error otherwise.
func (c *Conn) Wait() (int, error) {
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if !running {
		return 0, fmt.Errorf("%w: wait: no command was started on this connection", ErrInvalidRequest)
	}
	for skipped := 0; ; skipped++ {
		m, err := c.read()
		if err != nil {
			return 0, fmt.Errorf("wait: %w", err)
		}
		switch m.Type {
		case TypeExit:
			if m.Code == nil || *m.Code < 0 || *m.Code > 255 {
				got := "none"
				if m.Code != nil {
					got = strconv.Itoa(*m.Code)
				}
				return 0, fmt.Errorf("%w: wait: agent reported exit code %s (want 0..255)", ErrProtocol, got)
			}
			c.mu.Lock()
			c.running = false
			c.mu.Unlock()
			return *m.Code, nil
		case TypeError:
			// An error about a signal request (e.g. too late); the command
			// is still ours to wait for.
		case TypeStarted, TypeHello:
			return 0, fmt.Errorf("%w: wait: unexpected %q frame", ErrProtocol, m.Type)
		default:
			if skipped >= maxSkippedFrames {
				return 0, fmt.Errorf("%w: wait: too many frames of unknown type", ErrProtocol)
			}
		}
	}
}

func (c *Conn) write(m *Message, fds ...int) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := WriteMessage(c.c, m, fds...)
	if err != nil && isClosedErr(err) {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	return err
}

// read reads one frame from the agent, accepting no descriptors.
func (c *Conn) read() (*Message, error) {
	m, _, err := ReadMessage(c.c, 0)
	if err != nil {
		if isClosedErr(err) {
			return nil, fmt.Errorf("%w: %v", ErrClosed, err)
		}
		return nil, err
	}
	return m, nil
}

func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET)
}
