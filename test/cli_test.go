package test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// cli runs the pocketdock binary against the test root and returns stdout,
// stderr and the exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	needRoot(t)
	cmd := exec.Command(cliBin, append([]string{"--root", stateRoot}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = nil
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestCLILifecycle(t *testing.T) {
	needRoot(t)
	name := "cli-life"
	out, errs, code := cli(t, "create", "--image", pythonImage, "--name", name, "--pull", "never")
	if code != 0 || strings.TrimSpace(out) != name {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	t.Cleanup(func() { cli(t, "rm", name) })

	// A later, separate CLI process finds the container and runs commands.
	out, errs, code = cli(t, "run", name, "--", "sh", "-c", "echo oops >&2; exit 7")
	if code != 7 || errs != "oops\n" || out != "" {
		t.Fatalf("run exit 7: code %d stdout %q stderr %q", code, out, errs)
	}
	out, _, code = cli(t, "run", name, "--", "echo hello; python3 -c 'print(6*7)'")
	if code != 0 || out != "hello\n42\n" {
		t.Fatalf("run: %d %q", code, out)
	}
	out, _, code = cli(t, "run", "--lang", "python", name, "--", "print('py', 1+1)")
	if code != 0 || out != "py 2\n" {
		t.Fatalf("run --lang python: %d %q", code, out)
	}
	start := time.Now()
	_, _, code = cli(t, "run", "--timeout", "1", name, "--", "sh", "-c", "sleep 100 & setsid sleep 100 & sleep 100")
	if code != 124 || time.Since(start) > 20*time.Second {
		t.Fatalf("timeout: exit %d after %s", code, time.Since(start))
	}
	out, _, code = cli(t, "run", "--json", name, "--", "echo hi; exit 3")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 3 {
		t.Fatalf("run --json: %d %q %v", code, out, err)
	}
	if res["exit_code"] != float64(3) || res["stdout"] != "hi\n" || res["timed_out"] != false {
		t.Fatalf("run --json fields: %v", res)
	}
	if _, ok := res["duration_ms"].(float64); !ok {
		t.Fatalf("duration_ms missing: %v", res)
	}

	out, _, code = cli(t, "list", "--json")
	if code != 0 || !strings.Contains(out, `"name": "`+name+`"`) || !strings.Contains(out, `"status": "running"`) {
		t.Fatalf("list --json: %d %s", code, out)
	}
	out, _, code = cli(t, "info", name)
	if code != 0 || !strings.Contains(out, "running") || !strings.Contains(out, "PID 1") {
		t.Fatalf("info: %d %s", code, out)
	}
	// Without a terminal and without -y, shutdown refuses with 125.
	_, errs, code = cli(t, "shutdown", name)
	if code != 125 || !strings.Contains(errs, "-y") {
		t.Fatalf("shutdown without -y: %d %q", code, errs)
	}
	_, errs, code = cli(t, "shutdown", "-y", name)
	if code != 0 {
		t.Fatalf("shutdown -y: %d %q", code, errs)
	}
	_, _, code = cli(t, "run", name, "--", "true")
	if code != 125 {
		t.Fatalf("run after shutdown: %d", code)
	}
}

func TestCLIBadInput(t *testing.T) {
	needRoot(t)
	before := hostState(t)
	_, _, code := cli(t, "create", "--image", busyboxImage, "--name", "cli-dup", "--pull", "never")
	if code != 0 {
		t.Fatal("create cli-dup failed")
	}
	t.Cleanup(func() { cli(t, "rm", "cli-dup") })
	withDup := hostState(t)
	cases := [][]string{
		{"create", "--image", "pocketdock/no-such-image", "--pull", "never"},
		{"create", "--image", busyboxImage, "--pull", "never", "--name", "cli-dup"},
		{"create", "--image", busyboxImage, "--pull", "never", "--name", "../x"},
		{"create", "--image", busyboxImage, "--pull", "never", "--name", "a/b"},
		{"create", "--image", busyboxImage, "--pull", "never", "--name", ""},
		{"create", "--image", busyboxImage, "--pull", "never", "--name", strings.Repeat("x", 300)},
		{"run", "no-such-container", "--", "true"},
		{"info", "no-such-container"},
		{"shutdown", "-y", "no-such-container"},
		{"create", "--no-such-flag"},
	}
	for _, args := range cases {
		_, errs, code := cli(t, args...)
		if code != 125 {
			t.Errorf("%v: exit %d, want 125", args, code)
		}
		if !strings.HasPrefix(errs, "pocketdock: ") {
			t.Errorf("%v: stderr %q", args, errs)
		}
		if left := diffState(withDup, hostState(t)); len(left) > 0 {
			t.Errorf("%v: left behind %v", args, left)
		}
	}
	cli(t, "rm", "cli-dup")
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Errorf("after rm: left %v", left)
	}
	if _, err := os.Stat(cliBin); err != nil {
		t.Fatal(err)
	}
}
