package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketPair returns two connected unix stream sockets, closed at cleanup.
func socketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conv := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "sock")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conv(fds[0]), conv(fds[1])
}

// writeRaw writes a header announcing n bytes followed by body.
func writeRaw(t *testing.T, c *net.UnixConn, n uint32, body []byte) {
	t.Helper()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], n)
	if _, err := c.Write(append(hdr[:], body...)); err != nil {
		t.Fatal(err)
	}
}

func TestFrameRoundTripWithFDs(t *testing.T) {
	a, b := socketPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	req := &ExecRequest{Argv: []string{"echo", "hi"}, Env: []string{"A=B"}, Cwd: "/tmp", UID: 1, GID: 2, Groups: []uint32{3}}
	if err := WriteMessage(a, &Message{Type: TypeExec, Exec: req}, int(w.Fd()), int(w.Fd()), int(w.Fd())); err != nil {
		t.Fatal(err)
	}
	// A second frame right behind the first must not be swallowed.
	code := 0
	if err := WriteMessage(a, &Message{Type: TypeExit, Code: &code}); err != nil {
		t.Fatal(err)
	}
	m, fds, err := ReadMessage(b, 3)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != TypeExec || m.Exec == nil || m.Exec.Argv[1] != "hi" || m.Exec.Cwd != "/tmp" || m.Exec.GID != 2 || m.Exec.Groups[0] != 3 {
		t.Fatalf("got %+v / %+v", m, m.Exec)
	}
	if len(fds) != 3 {
		t.Fatalf("got %d fds, want 3", len(fds))
	}
	if _, err := unix.Write(fds[1], []byte("x")); err != nil {
		t.Fatalf("received fd does not work: %v", err)
	}
	for _, fd := range fds {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("received fd %d is not close-on-exec", fd)
		}
		unix.Close(fd)
	}
	buf := make([]byte, 1)
	if _, err := r.Read(buf); err != nil || buf[0] != 'x' {
		t.Fatalf("read %q, %v", buf, err)
	}
	m, fds, err = ReadMessage(b, 3)
	if err != nil || m.Type != TypeExit || m.Code == nil || *m.Code != 0 || len(fds) != 0 {
		t.Fatalf("second frame: %+v %v %v", m, fds, err)
	}
}

func TestFrameFDsRefused(t *testing.T) {
	a, b := socketPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := WriteMessage(a, &Message{Type: TypeStarted, Pid: 5}, int(w.Fd())); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadMessage(b, 0); !errors.Is(err, ErrProtocol) {
		t.Fatalf("fds on a frame that allows none: got %v, want ErrProtocol", err)
	}
	if err := WriteMessage(a, &Message{Type: TypeExec}, int(w.Fd()), int(w.Fd()), int(w.Fd())); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadMessage(b, 1); !errors.Is(err, ErrProtocol) {
		t.Fatalf("3 fds where 1 is allowed: got %v, want ErrProtocol", err)
	}
}

func TestFrameOversizeRejected(t *testing.T) {
	a, b := socketPair(t)
	writeRaw(t, a, MaxFrameSize+1, nil)
	_, _, err := ReadMessage(b, 0)
	if !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v, want ErrFrameTooLarge and ErrProtocol", err)
	}
	writeRaw(t, a, 0xffffffff, nil)
	if _, _, err := ReadMessage(b, 0); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	big := &Message{Type: TypeError, Message: strings.Repeat("a", MaxFrameSize)}
	if err := WriteMessage(a, big); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("writing an oversize frame: got %v, want ErrFrameTooLarge", err)
	}
}

func TestFrameExactlyMaxSize(t *testing.T) {
	a, b := socketPair(t)
	prefix, suffix := `{"type":"error","message":"`, `"}`
	body := prefix + strings.Repeat("a", MaxFrameSize-len(prefix)-len(suffix)) + suffix
	done := make(chan error, 1)
	go func() {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
		_, err := a.Write(append(hdr[:], body...))
		done <- err
	}()
	m, _, err := ReadMessage(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Message) != MaxFrameSize-len(prefix)-len(suffix) {
		t.Fatalf("message of %d bytes", len(m.Message))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFrameBadContent(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"bad JSON", `{"type":`},
		{"not an object", `[1,2]`},
		{"null", `null`},
		{"missing type", `{"version":1}`},
		{"trailing garbage", `{"type":"hello"} x`},
		{"wrong field type", `{"type":"started","pid":"7"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketPair(t)
			writeRaw(t, a, uint32(len(tc.body)), []byte(tc.body))
			if _, _, err := ReadMessage(b, 0); !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %v, want ErrProtocol", err)
			}
		})
	}
	t.Run("empty frame", func(t *testing.T) {
		a, b := socketPair(t)
		writeRaw(t, a, 0, nil)
		if _, _, err := ReadMessage(b, 0); !errors.Is(err, ErrProtocol) {
			t.Fatalf("got %v, want ErrProtocol", err)
		}
	})
	t.Run("unknown fields ignored", func(t *testing.T) {
		a, b := socketPair(t)
		body := `{"type":"future","version":1,"something":{"x":[1]}}`
		writeRaw(t, a, uint32(len(body)), []byte(body))
		m, _, err := ReadMessage(b, 0)
		if err != nil || m.Type != "future" {
			t.Fatalf("got %+v, %v", m, err)
		}
	})
	t.Run("EOF", func(t *testing.T) {
		a, b := socketPair(t)
		a.Close()
		if _, _, err := ReadMessage(b, 0); err != io.EOF {
			t.Fatalf("got %v, want io.EOF", err)
		}
	})
	t.Run("EOF inside a frame", func(t *testing.T) {
		a, b := socketPair(t)
		writeRaw(t, a, 100, []byte(`{"type":`))
		a.Close()
		if _, _, err := ReadMessage(b, 0); err != io.ErrUnexpectedEOF {
			t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

func TestValidate(t *testing.T) {
	good := ExecRequest{Argv: []string{"sh", "-c", "true"}, Env: []string{"PATH=/bin", "EMPTY="}, Cwd: "/home/x"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(r *ExecRequest)
	}{
		{"no argv", func(r *ExecRequest) { r.Argv = nil }},
		{"empty argv0", func(r *ExecRequest) { r.Argv = []string{""} }},
		{"NUL in argv", func(r *ExecRequest) { r.Argv = []string{"a\x00b"} }},
		{"env without =", func(r *ExecRequest) { r.Env = []string{"PATH"} }},
		{"env with empty key", func(r *ExecRequest) { r.Env = []string{"=x"} }},
		{"NUL in env", func(r *ExecRequest) { r.Env = []string{"A=\x00"} }},
		{"relative cwd", func(r *ExecRequest) { r.Cwd = "tmp" }},
		{"uid -1", func(r *ExecRequest) { r.UID = ^uint32(0) }},
		{"gid -1", func(r *ExecRequest) { r.GID = ^uint32(0) }},
		{"group -1", func(r *ExecRequest) { r.Groups = []uint32{^uint32(0)} }},
		{"too many groups", func(r *ExecRequest) { r.Groups = make([]uint32, MaxGroups+1) }},
	} {
		r := good
		tc.mod(&r)
		if err := r.Validate(); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: got %v, want ErrInvalidRequest", tc.name, err)
		}
	}
}

// fakeAgent listens on a socket in a temporary folder and runs script on
// the first connection. It stands for a misbehaving (compromised) agent,
// which the real one cannot be made into.
func fakeAgent(t *testing.T, script func(c *net.UnixConn)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		script(c)
	}()
	return path
}

// greet does the agent's side of a good handshake.
func greet(c *net.UnixConn) bool {
	if m, _, err := ReadMessage(c, 0); err != nil || m.Type != TypeHello {
		return false
	}
	return WriteMessage(c, &Message{Type: TypeHello, Version: ProtocolVersion}) == nil
}

func TestDialVersionMismatch(t *testing.T) {
	ctx := context.Background()
	path := fakeAgent(t, func(c *net.UnixConn) {
		ReadMessage(c, 0)
		WriteMessage(c, &Message{Type: TypeHello, Version: 99})
	})
	if _, err := Dial(ctx, path); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("hello v99: got %v, want ErrVersionMismatch", err)
	}
	path = fakeAgent(t, func(c *net.UnixConn) {
		ReadMessage(c, 0)
		WriteMessage(c, &Message{Type: TypeError, Version: 99, Message: "I speak 99"})
	})
	if _, err := Dial(ctx, path); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("error v99: got %v, want ErrVersionMismatch", err)
	}
	path = fakeAgent(t, func(c *net.UnixConn) {
		ReadMessage(c, 0)
		WriteMessage(c, &Message{Type: TypeStarted, Pid: 1})
	})
	if _, err := Dial(ctx, path); !errors.Is(err, ErrProtocol) {
		t.Fatalf("no hello: got %v, want ErrProtocol", err)
	}
	path = fakeAgent(t, func(c *net.UnixConn) {
		ReadMessage(c, 0)
		writeRaw(t, c, MaxFrameSize+1, nil)
	})
	if _, err := Dial(ctx, path); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize hello: got %v, want ErrFrameTooLarge", err)
	}
}

func TestDialStalledAgent(t *testing.T) {
	release := make(chan struct{})
	path := fakeAgent(t, func(c *net.UnixConn) { <-release })
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, path)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Dial took %v despite the deadline", d)
	}
}

// startWith dials a fake agent that greets, reads the exec frame and then
// answers with the given frames.
func startWith(t *testing.T, answers ...*Message) (*Conn, int, error) {
	t.Helper()
	path := fakeAgent(t, func(c *net.UnixConn) {
		if !greet(c) {
			return
		}
		_, fds, err := ReadMessage(c, 3)
		if err != nil {
			return
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		for _, m := range answers {
			WriteMessage(c, m)
		}
		io.Copy(io.Discard, c)
	})
	conn, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	pid, err := conn.Start(ExecRequest{Argv: []string{"true"}}, r, w, w)
	return conn, pid, err
}

func TestHostValidatesAgentAnswers(t *testing.T) {
	intp := func(n int) *int { return &n }
	if _, _, err := startWith(t, &Message{Type: TypeStarted, Pid: -5}); !errors.Is(err, ErrProtocol) {
		t.Errorf("pid -5: got %v, want ErrProtocol", err)
	}
	if _, _, err := startWith(t, &Message{Type: TypeStarted, Pid: 1 << 30}); !errors.Is(err, ErrProtocol) {
		t.Errorf("pid 2^30: got %v, want ErrProtocol", err)
	}
	if _, _, err := startWith(t, &Message{Type: TypeExit, Code: intp(0)}); !errors.Is(err, ErrProtocol) {
		t.Errorf("exit before started: got %v, want ErrProtocol", err)
	}
	_, _, err := startWith(t, &Message{Type: TypeError, Message: "no such directory\x1b[31m" + strings.Repeat("x", 5000)})
	if !errors.Is(err, ErrStart) {
		t.Errorf("error answer: got %v, want ErrStart", err)
	} else if strings.ContainsRune(err.Error(), 0x1b) || len(err.Error()) > 1000 {
		t.Errorf("agent's message not sanitised: %q", err.Error())
	}
	for _, code := range []*int{intp(256), intp(-1), nil} {
		conn, pid, err := startWith(t, &Message{Type: TypeStarted, Pid: 42}, &Message{Type: TypeExit, Code: code})
		if err != nil || pid != 42 {
			t.Fatalf("start: pid %d, %v", pid, err)
		}
		if _, err := conn.Wait(); !errors.Is(err, ErrProtocol) {
			t.Errorf("exit code %v: got %v, want ErrProtocol", code, err)
		}
	}
	conn, _, err := startWith(t, &Message{Type: TypeStarted, Pid: 42}, &Message{Type: "future-kind"}, &Message{Type: TypeExit, Code: intp(3)})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := conn.Wait(); err != nil || code != 3 {
		t.Errorf("unknown frame before exit: got %d, %v; want 3", code, err)
	}
	conn, _, err = startWith(t, &Message{Type: TypeStarted, Pid: 42})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		conn.Close()
	}()
	if _, err := conn.Wait(); err == nil {
		t.Error("Wait after Close: no error")
	}
}

func TestStartRejectsBadInput(t *testing.T) {
	path := fakeAgent(t, func(c *net.UnixConn) {
		greet(c)
		io.Copy(io.Discard, c)
	})
	conn, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := conn.Start(ExecRequest{}, r, w, w); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("empty request: got %v", err)
	}
	if _, err := conn.Start(ExecRequest{Argv: []string{"x"}}, nil, w, w); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("nil stdin: got %v", err)
	}
	if _, err := conn.Wait(); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Wait without Start: got %v", err)
	}
	if err := conn.Signal(syscall.Signal(65)); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("signal 65: got %v", err)
	}
}
