package test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

func TestCLIDetachJobsLogs(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	name := c.Name()
	out, errs, code := cli(t, "run", "--detach", name, "--", "echo started; sleep 3; echo done; echo oops >&2; exit 5")
	if code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("run --detach: %d %q %q", code, out, errs)
	}
	type row struct {
		ID       int    `json:"id"`
		Command  string `json:"command"`
		State    string `json:"state"`
		ExitCode *int   `json:"exit_code"`
	}
	jobs := func() []row {
		out, errs, code := cli(t, "jobs", name, "--json")
		var rows []row
		if code != 0 || json.Unmarshal([]byte(out), &rows) != nil {
			t.Fatalf("jobs --json: %d %q %q", code, out, errs)
		}
		return rows
	}
	// The CLI returned while the 3 s job still runs.
	if rows := jobs(); len(rows) != 1 || rows[0].State != "running" || rows[0].ExitCode != nil || !strings.Contains(rows[0].Command, "sleep 3") {
		t.Fatalf("right after run --detach: %+v", rows)
	}
	// The CLI process that made it is gone; the SDK in this process sees it.
	h, err := pocketdock.GetContainerIn(context.Background(), stateRoot, name)
	if err != nil {
		t.Fatal(err)
	}
	if js, err := h.Jobs(context.Background()); err != nil || len(js) != 1 || !js[0].Running {
		t.Fatalf("SDK Jobs: %+v %v", js, err)
	}
	if !eventually(30*time.Second, func() bool { r := jobs(); return r[0].State == "exited" }) {
		t.Fatal("job did not end")
	}
	if r := jobs(); *r[0].ExitCode != 5 {
		t.Fatalf("exit code: %+v", r)
	}
	out, errs, code = cli(t, "logs", name)
	if code != 0 || out != "started\ndone\n" || errs != "oops\n" {
		t.Fatalf("logs: %d %q %q", code, out, errs)
	}
	out, _, code = cli(t, "jobs", name)
	if code != 0 || !strings.Contains(out, "exited") || !strings.Contains(out, " 5 ") {
		t.Fatalf("jobs table: %q", out)
	}
	// logs --follow --job N ends when the job does.
	out, _, code = cli(t, "run", "--detach", name, "--", "echo a; sleep 1; echo b")
	if code != 0 {
		t.Fatal(out)
	}
	out, _, code = cli(t, "logs", name, "--follow", "--job", strings.TrimSpace(out))
	if code != 0 || out != "a\nb\n" {
		t.Fatalf("logs --follow: %d %q", code, out)
	}
}

func TestCLIExecStreamStdin(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	name := c.Name()
	out, _, code := cli(t, "exec", name, "--", "printf", "%s|", "a b", "$HOME", "*")
	if code != 0 || out != "a b|$HOME|*|" {
		t.Fatalf("exec: %d %q", code, out)
	}
	_, _, code = cli(t, "exec", name, "--", "no-such-program")
	if code != 127 {
		t.Fatalf("exec missing: %d", code)
	}
	out, errs, code := cli(t, "run", "--stream", name, "--", "echo one; echo two >&2; exit 4")
	if code != 4 || out != "one\n" || errs != "two\n" {
		t.Fatalf("run --stream: %d %q %q", code, out, errs)
	}
	cmd := exec.Command(cliBin, "--root", stateRoot, "run", "-i", name, "--", "tr a-z A-Z")
	cmd.Stdin = strings.NewReader("hello\n")
	b, err := cmd.Output()
	if err != nil || string(b) != "HELLO\n" {
		t.Fatalf("run -i: %q %v", b, err)
	}
	// Without -i stdin is empty.
	cmd = exec.Command(cliBin, "--root", stateRoot, "run", name, "--", "cat")
	cmd.Stdin = strings.NewReader("ignored\n")
	if b, err := cmd.Output(); err != nil || string(b) != "" {
		t.Fatalf("run without -i: %q %v", b, err)
	}
	// -t: the command has a terminal.
	out, _, code = cli(t, "run", "-t", name, "--", "test -t 0 && test -t 1 && echo tty")
	if code != 0 || strings.TrimSpace(out) != "tty" {
		t.Fatalf("run -t: %d %q", code, out)
	}
	if _, errs, code := cli(t, "run", "--detach", "--stream", name, "--", "true"); code != 125 || !strings.Contains(errs, "invalid") {
		t.Fatalf("--detach --stream: %d %q", code, errs)
	}
}

func TestCLIFiles(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage})
	name := c.Name()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "f.txt"), []byte("file"), 0o600)
	if _, errs, code := cli(t, "push", name, src, "/home/sandbox/pushed"); code != 0 {
		t.Fatalf("push: %q", errs)
	}
	if out := mustRun(t, c, "cat /home/sandbox/pushed/sub/f.txt; stat -c %a /home/sandbox/pushed/sub/f.txt"); out != "file600\n" {
		t.Fatalf("pushed: %q", out)
	}
	if _, errs, code := cli(t, "pull", name, "/home/sandbox/pushed", filepath.Join(dir, "pulled")); code != 0 {
		t.Fatalf("pull: %q", errs)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pulled", "sub", "f.txt")); string(b) != "file" {
		t.Fatalf("pulled %q", b)
	}
	if _, errs, code := cli(t, "cp", name+":/home/sandbox/pushed/sub/f.txt", filepath.Join(dir, "cp.txt")); code != 0 {
		t.Fatalf("cp out: %q", errs)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cp.txt")); string(b) != "file" {
		t.Fatalf("cp out %q", b)
	}
	if _, errs, code := cli(t, "cp", filepath.Join(dir, "cp.txt"), name+":/tmp/"); code != 0 {
		t.Fatalf("cp in: %q", errs)
	}
	if out := mustRun(t, c, "cat /tmp/cp.txt"); out != "file" {
		t.Fatalf("cp in %q", out)
	}
	if _, errs, code := cli(t, "cp", "a", "b"); code != 125 || !strings.Contains(errs, "NAME:PATH") {
		t.Fatalf("cp without a container: %d %q", code, errs)
	}
	if _, _, code := cli(t, "pull", name, "/no/such", filepath.Join(dir, "x")); code != 125 {
		t.Fatalf("pull missing: %d", code)
	}
}

// TestCLIShell drives `pocketdock shell` on a pty the test makes, as a user
// at a terminal would.
func TestCLIShell(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage})
	master, cmd, done := startOnPty(t, "shell", c.Name())
	defer master.Close()
	var seen bytes.Buffer
	readCh := make(chan []byte, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				readCh <- append([]byte(nil), buf[:n]...)
			}
			if err != nil {
				close(readCh)
				return
			}
		}
	}()
	master.Write([]byte("stty size; echo h''i; exit 3\n"))
	var werr error
	timeout := time.After(60 * time.Second)
loop:
	for {
		select {
		case b, ok := <-readCh:
			if ok {
				seen.Write(b)
			}
		case werr = <-done:
			break loop
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("shell did not end; saw %q", seen.String())
		}
	}
	// Drain what is left.
	for {
		select {
		case b, ok := <-readCh:
			if !ok {
				goto check
			}
			seen.Write(b)
			continue
		case <-time.After(300 * time.Millisecond):
		}
		break
	}
check:
	ee, ok := werr.(*exec.ExitError)
	if !ok || ee.ExitCode() != 3 {
		t.Fatalf("exit: %v; saw %q", werr, seen.String())
	}
	if !strings.Contains(seen.String(), "\nhi\r\n") && !strings.Contains(seen.String(), "hi\r\n") {
		t.Fatalf("no hi in %q", seen.String())
	}
	if !strings.Contains(seen.String(), "40 100") {
		t.Fatalf("window size not passed: %q", seen.String())
	}
}
