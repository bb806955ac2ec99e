package test

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

// TestCLIShellStdinEOF: `shell NAME </dev/null` ends — the end of stdin
// reaches the shell as the pty's end-of-file — for bash (readline) and
// busybox sh, and what is piped in runs first.
func TestCLIShellStdinEOF(t *testing.T) {
	for _, img := range []string{pythonImage, busyboxImage} {
		t.Run(strings.TrimPrefix(img, "pocketdock/"), func(t *testing.T) {
			c := newContainer(t, pocketdock.Options{Image: img})
			for _, in := range []string{"", "echo piped-$((6*7))\n"} {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				cmd := exec.CommandContext(ctx, cliBin, "--root", stateRoot, "shell", c.Name())
				cmd.Stdin = strings.NewReader(in) // "" is like </dev/null: EOF at once
				out, err := cmd.CombinedOutput()
				timedOut := ctx.Err() != nil
				cancel()
				if timedOut {
					t.Fatalf("shell with stdin %q did not return well before 30 s; output %q", in, out)
				}
				if err != nil {
					t.Fatalf("shell with stdin %q: %v; output %q", in, err, out)
				}
				if in != "" && !strings.Contains(string(out), "piped-42") {
					t.Fatalf("piped command did not run; output %q", out)
				}
			}
			// Nothing left of the sessions: only PID 1 runs.
			in, err := c.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range in.Processes {
				if p.PID != 1 {
					t.Errorf("left in the container: %+v", p)
				}
			}
		})
	}
}

// TestCLITerminalSIGTERM: a `run -t` client that gets SIGTERM exits 143,
// the command is gone from the container, and the container keeps running.
func TestCLITerminalSIGTERM(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	cmd := exec.Command(cliBin, "--root", stateRoot, "run", "-t", c.Name(), "--", "sleep 1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-waited
		}
	})
	sleeping := func() bool {
		in, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range in.Processes {
			if strings.Contains(p.Command, "sleep 1000") {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(30 * time.Second)
	for !sleeping() {
		if time.Now().After(deadline) {
			t.Fatal("sleep 1000 never showed up in the container")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if code := cmd.ProcessState.ExitCode(); code != 143 {
			t.Fatalf("client exit %d (%v), want 143", code, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("client still running 30 s after SIGTERM")
	}
	if sleeping() {
		t.Fatal("sleep 1000 still runs in the container after the client exited")
	}
	in, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != "running" {
		t.Fatalf("container status %q after the client ended, want running", in.Status)
	}
}
