package pocketdock

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pocketdock/pocketdock/runtime/agent"
)

// sessionInterruptWait is how long SendAndWait waits for a command to end
// after its timeout interrupted it (SIGINT), before it gives up on the
// session.
const sessionInterruptWait = 5 * time.Second

// Session is one long-lived /bin/sh in the container that keeps its working
// directory, environment and shell variables between commands. The shell
// reads its commands on a descriptor of their own (fd 3); every command's
// standard input is a separate pipe that stays empty, so a command that
// reads stdin (`read x`) waits instead of eating the next command. The
// shell traps SIGINT, so interrupting a command does not end the session.
// A Session is safe for concurrent use; SendAndWait calls run one at a time,
// and output that arrives while one runs (also from an earlier Send) is
// part of its result.
type Session struct {
	c     *Container
	conn  *agent.Conn
	cmdW  *os.File // the shell's fd 3
	stdin *os.File // write end of the commands' stdin; never written
	done  chan struct{}

	waitMu sync.Mutex // one SendAndWait at a time

	mu       sync.Mutex
	closed   bool
	pending  bytes.Buffer // output not claimed by a SendAndWait (Read)
	onOutput []func(stream string, data []byte)
	w        *sessionWait
	// log is the session's project log (auto_log), or nil.
	log *sessionLog
}

// sessionWait is the state of the SendAndWait in progress.
type sessionWait struct {
	token    string
	out, err bytes.Buffer
	code     int
	outDone  bool
	errDone  bool
	signal   chan struct{}
	leftover [2][]byte
}

// Session starts a shell session in the container as the image's user,
// with its environment and working directory. It ends with Close, when the
// shell exits, or when the container stops.
func (c *Container) Session(ctx context.Context) (*Session, error) {
	req, err := c.request([]string{"/bin/sh", "/proc/self/fd/3"}, runConfig{})
	if err != nil {
		return nil, fmt.Errorf("session in %s: %w", c.rec.Name, err)
	}
	req.ExtraFiles = 1
	conn, err := c.m.Dial(ctx, c.rec)
	if err != nil {
		return nil, fmt.Errorf("session in %s: %w", c.rec.Name, err)
	}
	var files []*os.File
	pipe := func() (*os.File, *os.File) {
		r, w, perr := os.Pipe()
		if perr != nil {
			err = perr
			return nil, nil
		}
		files = append(files, r, w)
		return r, w
	}
	inR, inW := pipe()
	outR, outW := pipe()
	errR, errW := pipe()
	cmdR, cmdW := pipe()
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		conn.Close()
		return nil, fmt.Errorf("session in %s: %w", c.rec.Name, err)
	}
	// The shell opens fd 3 again through /proc/self/fd/3, which checks the
	// pipe's owner: make it the command's user.
	cmdR.Chown(int(req.UID), int(req.GID))
	_, err = conn.StartFiles(req, inR, outW, errW, cmdR)
	inR.Close()
	outW.Close()
	errW.Close()
	cmdR.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		cmdW.Close()
		conn.Close()
		return nil, fmt.Errorf("session in %s: %w", c.rec.Name, err)
	}
	s := &Session{c: c, conn: conn, cmdW: cmdW, stdin: inW, done: make(chan struct{})}
	go s.pump(outR, 0)
	go s.pump(errR, 1)
	go func() {
		conn.Wait()
		s.mu.Lock()
		s.closed = true
		if s.w != nil {
			s.wake()
		}
		s.mu.Unlock()
		close(s.done)
		cmdW.Close()
		inW.Close()
		conn.Close()
	}()
	if _, err := cmdW.WriteString("trap : INT\n"); err != nil {
		s.Close()
		return nil, fmt.Errorf("session in %s: %w", c.rec.Name, err)
	}
	s.startLog()
	return s, nil
}

var streamNames = [2]string{"stdout", "stderr"}

// pump reads one of the shell's output streams.
func (s *Session) pump(r *os.File, stream int) {
	defer r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			s.dispatch(stream, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// dispatch hands output to the SendAndWait in progress, or to Read and the
// OnOutput callbacks.
func (s *Session) dispatch(stream int, data []byte) {
	s.mu.Lock()
	w := s.w
	if w != nil && !(stream == 0 && w.outDone) && !(stream == 1 && w.errDone) {
		if stream == 0 {
			w.out.Write(data)
			if i, code, end, ok := findMarker(w.out.Bytes(), w.token, true); ok {
				rest := append([]byte(nil), w.out.Bytes()[end:]...)
				w.out.Truncate(i)
				w.code, w.outDone = code, true
				w.leftover[0] = rest
			}
		} else {
			w.err.Write(data)
			if i, _, end, ok := findMarker(w.err.Bytes(), w.token, false); ok {
				rest := append([]byte(nil), w.err.Bytes()[end:]...)
				w.err.Truncate(i)
				w.errDone = true
				w.leftover[1] = rest
			}
		}
		if w.outDone && w.errDone {
			s.wake()
		}
		s.mu.Unlock()
		return
	}
	s.pending.Write(data)
	fns := s.onOutput
	s.mu.Unlock()
	for _, fn := range fns {
		fn(streamNames[stream], data)
	}
}

// wake signals the waiting SendAndWait (s.mu held).
func (s *Session) wake() {
	select {
	case s.w.signal <- struct{}{}:
	default:
	}
}

// findMarker finds "\n__PDS_<token>_<code>\n" (stdout) or
// "\n__PDS_<token>_E\n" (stderr) in b and returns where it starts and ends.
func findMarker(b []byte, token string, withCode bool) (start, code, end int, ok bool) {
	prefix := []byte("\n__PDS_" + token + "_")
	i := bytes.Index(b, prefix)
	if i < 0 {
		return 0, 0, 0, false
	}
	rest := b[i+len(prefix):]
	nl := bytes.IndexByte(rest, '\n')
	if nl < 0 {
		return 0, 0, 0, false
	}
	field := string(rest[:nl])
	if withCode {
		c, err := strconv.Atoi(field)
		if err != nil {
			return 0, 0, 0, false
		}
		code = c
	} else if field != "E" {
		return 0, 0, 0, false
	}
	return i, code, i + len(prefix) + nl + 1, true
}

// quote makes cmd one single-quoted shell word.
func quote(cmd string) string { return "'" + strings.ReplaceAll(cmd, "'", `'\''`) + "'" }

func (s *Session) write(text string) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("session in %s: %w", s.c.rec.Name, ErrSessionClosed)
	}
	if _, err := s.cmdW.WriteString(text); err != nil {
		return fmt.Errorf("session in %s: %w (%v)", s.c.rec.Name, ErrSessionClosed, err)
	}
	return nil
}

// Send feeds cmd to the shell and returns at once; its output goes to Read
// and OnOutput. ErrSessionClosed after Close or once the shell ended.
func (s *Session) Send(cmd string) error {
	if strings.IndexByte(cmd, 0) >= 0 {
		return fmt.Errorf("session in %s: %w: command with a NUL byte", s.c.rec.Name, ErrInvalidArgument)
	}
	s.logSend(cmd)
	return s.write("command eval " + quote(cmd) + "\n")
}

// SendAndWait runs cmd in the shell and waits for its end, found with a
// random sentinel printed after it on stdout (with the exit code) and on
// stderr. The result holds the command's own output, exactly (no newline
// added or removed). When ctx ends first, the command is interrupted
// (SIGINT to the processes of the session; the shell itself survives), the
// result has TimedOut and ExitCode -1, and the session stays usable; if the
// command does not end within 5 s of the interrupt, the session is closed.
func (s *Session) SendAndWait(ctx context.Context, cmd string) (res ExecResult, err error) {
	if strings.IndexByte(cmd, 0) >= 0 {
		return ExecResult{ExitCode: -1}, fmt.Errorf("session in %s: %w: command with a NUL byte", s.c.rec.Name, ErrInvalidArgument)
	}
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	defer func() { s.logResult(cmd, &res) }()
	var tb [16]byte
	rand.Read(tb[:])
	tok := hex.EncodeToString(tb[:])
	w := &sessionWait{token: tok, signal: make(chan struct{}, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ExecResult{ExitCode: -1}, fmt.Errorf("session in %s: %w", s.c.rec.Name, ErrSessionClosed)
	}
	s.w = w
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.w = nil
		left := [2][]byte{w.leftover[0], w.leftover[1]}
		fns := s.onOutput
		for i, b := range left {
			if len(b) > 0 {
				s.pending.Write(b)
			} else {
				left[i] = nil
			}
		}
		s.mu.Unlock()
		for i, b := range left {
			for _, fn := range fns {
				if b != nil {
					fn(streamNames[i], b)
				}
			}
		}
	}()
	start := time.Now()
	text := "command eval " + quote(cmd) + "\n" +
		"__pd_rc=$?; printf '\\n__PDS_%s_%d\\n' " + tok + " \"$__pd_rc\"; printf '\\n__PDS_%s_E\\n' " + tok + " >&2\n"
	if err := s.write(text); err != nil {
		return ExecResult{ExitCode: -1}, err
	}
	finished := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return w.outDone && w.errDone
	}
	result := func(timedOut bool) ExecResult {
		s.mu.Lock()
		defer s.mu.Unlock()
		r := ExecResult{ExitCode: w.code, Stdout: w.out.String(), Stderr: w.err.String(), Duration: time.Since(start), TimedOut: timedOut}
		if timedOut {
			r.ExitCode = -1
		}
		return r
	}
	for !finished() {
		select {
		case <-w.signal:
			if !finished() && s.isClosed() {
				return result(false), fmt.Errorf("session in %s: %w: the shell ended", s.c.rec.Name, ErrSessionClosed)
			}
		case <-ctx.Done():
			s.conn.Signal(syscall.SIGINT)
			t := time.NewTimer(sessionInterruptWait)
			defer t.Stop()
			for !finished() {
				select {
				case <-w.signal:
					if !finished() && s.isClosed() {
						return result(true), nil
					}
				case <-t.C:
					s.Close()
					return result(true), nil
				}
			}
			return result(true), nil
		}
	}
	return result(false), nil
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Read returns and clears the output not claimed by SendAndWait (from Send,
// or from background processes), stdout and stderr interleaved in arrival
// order. ErrSessionClosed once closed and drained.
func (s *Session) Read() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.pending.Len() == 0 {
		return "", fmt.Errorf("session in %s: %w", s.c.rec.Name, ErrSessionClosed)
	}
	out := s.pending.String()
	s.pending.Reset()
	return out, nil
}

// OnOutput registers fn for output not claimed by SendAndWait, called from
// the session's reader goroutines with "stdout" or "stderr". The data is
// only valid during the call.
func (s *Session) OnOutput(fn func(stream string, data []byte)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("session in %s: %w", s.c.rec.Name, ErrSessionClosed)
	}
	s.onOutput = append(s.onOutput, fn)
	return nil
}

// Close ends the shell and everything it started. A second Close returns
// ErrSessionClosed.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("session in %s: %w", s.c.rec.Name, ErrSessionClosed)
	}
	s.closed = true
	if s.w != nil {
		s.wake()
	}
	s.mu.Unlock()
	s.cmdW.Close()
	s.stdin.Close()
	s.conn.Close() // the agent kills the shell's tree
	return nil
}

// Done is closed once the shell has ended.
func (s *Session) Done() <-chan struct{} { return s.done }
