package test

import (
	"encoding/json"
	"strings"
	"testing"
)

// Exit codes as podman uses them: pocketdock's own failures 125, a command
// that cannot be executed 126, one not found 127, run and exec pass the
// command's code through (124 on timeout).
func TestCLIExitCodes(t *testing.T) {
	needRoot(t)
	name := "cli-exitcodes"
	if _, errs, code := cli(t, "create", "--image", busyboxImage, "--name", name, "--pull", "never"); code != 0 {
		t.Fatalf("create: %d %s", code, errs)
	}
	t.Cleanup(func() { cli(t, "rm", name) })
	for _, c := range []struct {
		args   []string
		code   int
		stderr string // part of stderr, "" = any
	}{
		{[]string{"run", name, "--", "exit 42"}, 42, ""},
		{[]string{"run", name, "--", "sh", "-c", "echo out; exit 3"}, 3, ""},
		{[]string{"exec", name, "--", "false"}, 1, ""},
		{[]string{"exec", name, "--", "/no/such/program"}, 127, "not found"},
		{[]string{"exec", name, "--", "no-such-program"}, 127, "not found"},
		{[]string{"run", name, "--", "no-such-program"}, 127, "not found"},
		{[]string{"exec", name, "--", "/etc/passwd"}, 126, "permission denied"},
		{[]string{"run", name, "--", "/etc/passwd"}, 126, "denied"},
		{[]string{"run", "--timeout", "1", name, "--", "sleep 100"}, 124, "timed out"},
		{[]string{"run", "--no-such-flag", name, "--", "true"}, 125, "unknown flag"},
		{[]string{"run", "no-such-container", "--", "true"}, 125, "not found"},
		{[]string{"exec", "no-such-container", "--", "true"}, 125, "not found"},
		{[]string{"no-such-command"}, 125, "unknown command"},
		{[]string{"rmi", "pocketdock/no-such-image"}, 125, "image not found"},
	} {
		_, errs, code := cli(t, c.args...)
		if code != c.code || !strings.Contains(strings.ToLower(errs), c.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.stderr)
		}
	}
	// A build whose RUN fails exits with the RUN's code (podman build does);
	// a Dockerfile error is pocketdock's own failure.
	for _, c := range []struct {
		dockerfile string
		code       int
		stderr     string
	}{
		{"FROM " + busyboxImage + "\nRUN exit 5\n", 5, "line 2"},
		{"FROM " + busyboxImage + "\nRUN kill -9 $$\n", 137, "code 137"},
		{"FROM " + busyboxImage + "\nFROBNICATE x\n", 125, "line 2"},
	} {
		r := cliRun{root: stateRoot, stdin: c.dockerfile}
		_, errs, code := r.run(t, "build", "-f", "-", "--network", "none", "--pull", "never", "--no-cache", t.TempDir())
		if code != c.code || !strings.Contains(strings.ToLower(errs), c.stderr) {
			t.Errorf("build %q: exit %d, stderr %q; want %d and %q", c.dockerfile, code, errs, c.code, c.stderr)
		}
	}
}

// Docker habits and --json on the read commands, through the real binary.
func TestCLIDockerHabitsJSON(t *testing.T) {
	needRoot(t)
	name := "cli-habits"
	if _, errs, code := cli(t, "create", "--image", busyboxImage, "--name", name, "--pull", "never"); code != 0 {
		t.Fatalf("create: %d %s", code, errs)
	}
	t.Cleanup(func() { cli(t, "rm", name) })
	for _, c := range []struct {
		args []string
		want string // in the JSON document
	}{
		{[]string{"ps", "--json"}, `"name": "` + name + `"`},
		{[]string{"inspect", "--json", name}, `"status": "running"`},
		{[]string{"top", "--json", name}, `"command"`},
		{[]string{"jobs", "--json", name}, `[]`},
		{[]string{"version", "--json"}, `"version"`},
		{[]string{"doctor", "--json"}, `"healthy"`},
	} {
		out, errs, code := cli(t, c.args...)
		var doc any
		if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one JSON document with %s", c.args, code, out, errs, c.want)
		}
	}
	out, _, code := cli(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_pocketdock") {
		t.Errorf("completion bash: %d, %d bytes", code, len(out))
	}
}
