package test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

// stop -t with a long grace period can be interrupted: SIGINT (Ctrl-C) or
// SIGTERM to the CLI ends the wait with SIGKILL, and the container still
// ends up stopped (kept, resumable), long before the 300 s grace.
func TestCLIStopTimeInterrupted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			c := newContainer(t, pocketdock.Options{Image: busyboxImage})
			name := c.Name()
			if out, errs, code := cli(t, "run", "-d", name, "--", "trap '' TERM; sleep 1000"); code != 0 {
				t.Fatalf("run -d: %d %q %q", code, out, errs)
			}
			if !eventually(10*time.Second, func() bool {
				js, err := c.Jobs(context.Background())
				return err == nil && len(js) == 1 && js[0].Running
			}) {
				t.Fatal("job not running")
			}
			cmd := exec.Command(cliBin, "--root", stateRoot, "stop", "-t", "300", name)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			finished := false
			t.Cleanup(func() {
				if !finished {
					_ = cmd.Process.Kill()
					<-done
				}
			})
			// Let the stop reach its grace period (the job ignores SIGTERM);
			// whenever the signal comes, the stop must end well before 300 s.
			time.Sleep(time.Second)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				finished = true
				if err != nil {
					t.Fatalf("interrupted stop: %v %q", err, errb.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("stop -t 300 still waits 60 s after %s: the signal does not end its grace period", sig)
			}
			if !strings.Contains(errb.String(), "interrupted") {
				t.Errorf("interrupted stop said %q; want a note that it was interrupted", errb.String())
			}
			if in, err := c.Info(context.Background()); err != nil || in.Status != "exited" {
				t.Fatalf("after the interrupted stop: %+v %v; want exited", in.Status, err)
			}
			if _, errs, code := cli(t, "resume", name); code != 0 {
				t.Fatalf("resume: %d %q", code, errs)
			}
		})
	}
}

// A forced stop or remove does not wait out another process's stop -t
// grace period: rm and stop --force kill at once (docker rm -f), the long
// stop then ends at once too, and rm leaves nothing of the container.
func TestCLIForceDuringLongStop(t *testing.T) {
	for _, force := range [][]string{{"rm"}, {"rm", "-f"}, {"stop", "--force"}, {"stop", "-t", "0"}} {
		t.Run(strings.Join(force, " "), func(t *testing.T) {
			c := newContainer(t, pocketdock.Options{Image: busyboxImage})
			name, id := c.Name(), c.ID()
			if out, errs, code := cli(t, "run", "-d", name, "--", "trap '' TERM; sleep 1000"); code != 0 {
				t.Fatalf("run -d: %d %q %q", code, out, errs)
			}
			if !eventually(10*time.Second, func() bool {
				js, err := c.Jobs(context.Background())
				return err == nil && len(js) == 1 && js[0].Running
			}) {
				t.Fatal("job not running")
			}
			long := exec.Command(cliBin, "--root", stateRoot, "stop", "-t", "300", name)
			var longErr bytes.Buffer
			long.Stderr = &longErr
			if err := long.Start(); err != nil {
				t.Fatal(err)
			}
			longDone := make(chan error, 1)
			go func() { longDone <- long.Wait() }()
			longEnded := false
			t.Cleanup(func() {
				if !longEnded {
					_ = long.Process.Kill()
					<-longDone
				}
			})
			// Let the long stop take the lock and send SIGTERM (ignored).
			time.Sleep(time.Second)
			forced := exec.Command(cliBin, append([]string{"--root", stateRoot}, append(force, name)...)...)
			var forcedErr bytes.Buffer
			forced.Stderr = &forcedErr
			if err := forced.Start(); err != nil {
				t.Fatal(err)
			}
			forcedDone := make(chan error, 1)
			go func() { forcedDone <- forced.Wait() }()
			select {
			case err := <-forcedDone:
				if err != nil {
					t.Fatalf("%v during stop -t 300: %v %q", force, err, forcedErr.String())
				}
			case <-time.After(60 * time.Second):
				_ = long.Process.Kill() // lets the forced command go on
				<-forcedDone
				t.Fatalf("%v waited 60 s behind stop -t 300: it does not kill at once", force)
			}
			select {
			case err := <-longDone:
				longEnded = true
				if err != nil {
					t.Errorf("the long stop, cut short: %v %q", err, longErr.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatal("the long stop still waits 60 s after its container was killed")
			}
			if force[0] == "rm" {
				if left := leftOf(t, id); len(left) > 0 {
					t.Errorf("%v left %v", force, left)
				}
				return
			}
			if in, err := c.Info(context.Background()); err != nil || in.Status != "exited" {
				t.Fatalf("after %v: %+v %v; want exited", force, in.Status, err)
			}
		})
	}
}
