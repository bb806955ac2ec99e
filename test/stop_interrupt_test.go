package test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stop -t with a long grace period can be interrupted: SIGINT (Ctrl-C) or
// SIGTERM to the CLI ends the wait with SIGKILL, and the container still
// ends up stopped (kept, resumable), long before the 300 s grace.
func TestCLIStopTimeInterrupted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			c := termIgnoringContainer(t)
			name := c.Name()
			cmd, errb, done := startCLI(t, "stop", "-t", "300", name)
			// Let the stop reach its grace period (the job ignores SIGTERM);
			// whenever the signal comes, the stop must end well before 300 s.
			time.Sleep(time.Second)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
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
			c := termIgnoringContainer(t)
			name, id := c.Name(), c.ID()
			long, longErr, longDone := startCLI(t, "stop", "-t", "300", name)
			// Let the long stop take the lock and send SIGTERM (ignored).
			time.Sleep(time.Second)
			_, forcedErr, forcedDone := startCLI(t, append(force, name)...)
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
