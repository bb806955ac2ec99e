package test

import (
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
}
