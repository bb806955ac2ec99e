package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

// TestCLIKilledMidOperation SIGKILLs the CLI at several points of stop,
// resume, reboot and snapshot: list must keep working and show the container,
// and resume must bring it back with its files.
func TestCLIKilledMidOperation(t *testing.T) {
	needRoot(t)
	name := "crashy"
	before := rootState(t)
	if out, errs, code := cli(t, "create", "--image", busyboxImage, "--pull", "never", "--name", name, "--persist"); code != 0 {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	t.Cleanup(func() { cli(t, "rm", name) })
	if _, _, code := cli(t, "run", name, "--", "echo kept > /root/f"); code != 0 {
		t.Fatal("write")
	}
	var images []string
	for di, delay := range []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 80 * time.Millisecond} {
		// A snapshot that completes before the kill makes an image; each gets
		// its own name so that all of them can be removed at the end.
		snap := fmt.Sprintf("pd-crash-snap-%d", di)
		images = append(images, snap)
		ops := [][]string{{"stop", name}, {"resume", name}, {"reboot", name}, {"stop", "--force", name}, {"snapshot", name, snap}, {"resume", name}}
		for _, op := range ops {
			cmd := exec.Command(cliBin, append([]string{"--root", stateRoot}, op...)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			out, errs, code := cli(t, "list", "--json")
			if code != 0 {
				t.Fatalf("list after killing %v at %s: %d %q", op, delay, code, errs)
			}
			var rows []struct{ Name, Status string }
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("list after killing %v at %s: %v %q", op, delay, err, out)
			}
			found := false
			for _, r := range rows {
				if r.Name == name {
					found = true
					switch r.Status {
					case "running", "exited", "created", "paused":
					default:
						t.Fatalf("after killing %v at %s: status %q", op, delay, r.Status)
					}
				}
			}
			if !found {
				t.Fatalf("after killing %v at %s: %s not listed: %s", op, delay, name, out)
			}
		}
		if out, errs, code := cli(t, "resume", name); code != 0 {
			t.Fatalf("resume after kills at %s: %d %q %q", delay, code, out, errs)
		}
		if out, errs, code := cli(t, "run", name, "--", "cat /root/f"); code != 0 || out != "kept\n" {
			t.Fatalf("after kills at %s: %d %q %q", delay, code, out, errs)
		}
	}
	c, err := pocketdock.GetContainerIn(context.Background(), stateRoot, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, errs, code := cli(t, "rm", name); code != 0 {
		t.Fatalf("rm: %d %q", code, errs)
	}
	for _, img := range images {
		// A snapshot killed before its image was written made none; any
		// image that carries the name (damaged or not) must go.
		if _, errs, code := cli(t, "rmi", img); code != 0 && !strings.Contains(errs, "not found") {
			t.Errorf("rmi %s: %d %q", img, code, errs)
		}
	}
	if left := leftOf(t, c.ID()); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if added := diffState(before, rootState(t)); len(added) > 0 {
		t.Fatalf("left behind: %v", added)
	}
}
