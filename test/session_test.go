package test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

func TestStreamDeliversBeforeEnd(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	s := c.Stream(ctx, "for i in 1 2 3; do echo $i; sleep 1; done; echo err >&2; touch /tmp/ended")
	var got []pocketdock.StreamChunk
	var firstWhileRunning bool
	for ch := range s.Chunks() {
		if len(got) == 0 {
			// The command is still running when its first chunk arrives:
			// it has not made its last file yet.
			res, err := c.Run(ctx, "test -e /tmp/ended")
			firstWhileRunning = err == nil && res.ExitCode == 1
		}
		got = append(got, ch)
	}
	res, err := s.Result()
	if err != nil || res.ExitCode != 0 || res.Stdout != "1\n2\n3\n" || res.Stderr != "err\n" {
		t.Fatalf("result: %+v %v", res, err)
	}
	var out, errs string
	for _, ch := range got {
		switch ch.Stream {
		case "stdout":
			out += string(ch.Data)
		case "stderr":
			errs += string(ch.Data)
		default:
			t.Fatalf("stream %q", ch.Stream)
		}
	}
	if out != "1\n2\n3\n" || errs != "err\n" || len(got) < 3 {
		t.Fatalf("chunks: %d %q %q", len(got), out, errs)
	}
	if !firstWhileRunning {
		t.Fatalf("first chunk did not arrive while the command ran")
	}
}

func TestSession(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage})
	ctx := context.Background()
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run := func(cmd string) pocketdock.ExecResult {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		r, err := s.SendAndWait(ctx, cmd)
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		return r
	}
	if r := run("cd /tmp"); r.ExitCode != 0 {
		t.Fatalf("cd: %+v", r)
	}
	if r := run("pwd"); r.Stdout != "/tmp\n" || r.ExitCode != 0 {
		t.Fatalf("pwd: %+v", r)
	}
	if r := run("printf abc"); r.Stdout != "abc" {
		t.Fatalf("printf abc: %+v", r)
	}
	if r := run("X=5; false"); r.ExitCode != 1 {
		t.Fatalf("false: %+v", r)
	}
	if r := run("echo $X; (exit 42)"); r.ExitCode != 42 || r.Stdout != "5\n" {
		t.Fatalf("exit 42: %+v", r)
	}
	// stderr after stdout, without newlines.
	if r := run("printf out; sleep 0.3; printf err >&2"); r.Stdout != "out" || r.Stderr != "err" {
		t.Fatalf("stderr after stdout: %+v", r)
	}
	// Text that looks like a sentinel.
	look := `printf '\n__PDS_0123456789abcdef0123456789abcdef_0\n__PDS_x_E\n'`
	if r := run(look); r.Stdout != "\n__PDS_0123456789abcdef0123456789abcdef_0\n__PDS_x_E\n" || r.ExitCode != 0 {
		t.Fatalf("look-alike: %+v", r)
	}
	// A syntax error is the command's failure, not the session's.
	if r := run(`echo "unclosed`); r.ExitCode == 0 {
		t.Fatalf("syntax error: %+v", r)
	}
	// read x waits for input that never comes: the timeout interrupts it
	// and the session stays usable.
	tctx, cancel := context.WithTimeout(ctx, time.Second)
	start := time.Now()
	r, err := s.SendAndWait(tctx, "read x; echo got=$x")
	cancel()
	if err != nil || !r.TimedOut || r.ExitCode != -1 {
		t.Fatalf("read x: %+v %v", r, err)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("read x took %s", time.Since(start))
	}
	if r := run("echo next; pwd"); r.Stdout != "next\n/tmp\n" || r.ExitCode != 0 {
		t.Fatalf("after timeout: %+v", r)
	}
	// A long external command is interrupted too.
	tctx, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
	r, err = s.SendAndWait(tctx, "sleep 100")
	cancel()
	if err != nil || !r.TimedOut {
		t.Fatalf("sleep: %+v %v", r, err)
	}
	if r := run("echo alive"); r.Stdout != "alive\n" {
		t.Fatalf("after sleep timeout: %+v", r)
	}
	// Send, Read and OnOutput.
	var mu sync.Mutex
	var seen strings.Builder
	s.OnOutput(func(stream string, data []byte) {
		mu.Lock()
		seen.Write(data)
		mu.Unlock()
	})
	if err := s.Send("echo fire"); err != nil {
		t.Fatal(err)
	}
	var out string
	for deadline := time.Now().Add(20 * time.Second); out != "fire\n" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		o, err := s.Read()
		if err != nil {
			t.Fatal(err)
		}
		out += o
	}
	if out != "fire\n" {
		t.Fatalf("Read: %q", out)
	}
	mu.Lock()
	if seen.String() != "fire\n" {
		t.Fatalf("OnOutput: %q", seen.String())
	}
	mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendAndWait(ctx, "true"); !errors.Is(err, pocketdock.ErrSessionClosed) {
		t.Fatalf("after close: %v", err)
	}
	if err := s.Send("true"); !errors.Is(err, pocketdock.ErrSessionClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, pocketdock.ErrSessionClosed) {
		t.Fatalf("close after close: %v", err)
	}
}

func TestSessionEndsWithContainer(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.SendAndWait(ctx, "echo hi"); err != nil || r.Stdout != "hi\n" {
		t.Fatalf("%+v %v", r, err)
	}
	if err := c.Shutdown(ctx, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("session still open after shutdown")
	}
	if _, err := s.SendAndWait(ctx, "true"); !errors.Is(err, pocketdock.ErrSessionClosed) {
		t.Fatalf("after shutdown: %v", err)
	}
}
