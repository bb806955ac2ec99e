package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

// TestCLIShellUnderTmux drives `pocketdock shell` as a person would, in a
// terminal under tmux (on a private tmux socket of its own): it types
// `echo hi; exit 3`, sees hi on the screen and gets exit code 3.
func TestCLIShellUnderTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed (make deps installs it)")
	}
	c := newContainer(t, pocketdock.Options{Image: pythonImage})
	sock := fmt.Sprintf("pd-test-%d", os.Getpid())
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { tm("kill-server") })
	codeFile := filepath.Join(t.TempDir(), "code")
	script := fmt.Sprintf("%s --root %s shell %s; echo $? > %s; sleep 60", cliBin, stateRoot, c.Name(), codeFile)
	if out, err := tm("new-session", "-d", "-x", "100", "-y", "30", "-s", "pd", "sh", "-c", script); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	// Wait for the container's prompt, then type.
	screen := func() string { out, _ := tm("capture-pane", "-p", "-t", "pd"); return out }
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(screen(), "$") && !strings.Contains(screen(), "#") {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt; screen:\n%s", screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := tm("send-keys", "-t", "pd", "echo hi; exit 3", "Enter"); err != nil {
		t.Fatalf("send-keys: %v %s", err, out)
	}
	for {
		data, err := os.ReadFile(codeFile)
		if err == nil && len(data) > 0 {
			if got := strings.TrimSpace(string(data)); got != "3" {
				t.Fatalf("shell exit code %q, want 3; screen:\n%s", got, screen())
			}
			break
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("shell did not exit; screen:\n%s", screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
	lines := strings.Split(screen(), "\n")
	seen := false
	for _, l := range lines {
		if strings.TrimSpace(l) == "hi" {
			seen = true
		}
	}
	if !seen {
		t.Fatalf("hi not on the screen:\n%s", strings.Join(lines, "\n"))
	}
}
