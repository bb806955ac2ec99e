package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// commandArgs: docker's form (the command's own flags need no "--") and
// pocketdock's (flags right after NAME, then "--") give the same split.
func TestCommandArgs(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // NAME|ARGV...
		user string // the -u value parsed
	}{
		{[]string{"box", "ls", "-la"}, "box|ls|-la", ""},
		{[]string{"box", "--", "ls", "-la"}, "box|ls|-la", ""},
		{[]string{"-u", "root", "box", "id", "-u"}, "box|id|-u", "root"},
		{[]string{"box", "-u", "root", "--", "id", "-u"}, "box|id|-u", "root"},
		{[]string{"box", "-u", "root", "id", "--", "x"}, "box|id|--|x", "root"},
		{[]string{"box", "echo", "--", "-u", "x"}, "box|echo|--|-u|x", ""},
		{[]string{"box", "-"}, "box|-", ""},
		{[]string{"--", "box", "-u", "root", "id"}, "box|-u|root|id", ""},
		{[]string{"-u", "root", "--", "box", "-w", "/"}, "box|-w|/", "root"},
	} {
		var out, errb bytes.Buffer
		root := newRootCmd(&globals{}, &out, &errb)
		cmd, _, err := root.Find([]string{"exec"})
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		got, err := commandArgs(cmd, cmd.Flags().Args())
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		user, _ := cmd.Flags().GetString("user")
		if strings.Join(got, "|") != c.want || user != c.user {
			t.Errorf("%q: %q with -u %q; want %q with -u %q", c.args, got, user, c.want, c.user)
		}
	}
	var out, errb bytes.Buffer
	root := newRootCmd(&globals{}, &out, &errb)
	cmd, _, _ := root.Find([]string{"run"})
	cmd.ParseFlags([]string{"box", "--bogus", "--", "true"})
	if _, err := commandArgs(cmd, cmd.Flags().Args()); err == nil || !strings.Contains(err.Error(), "--bogus") {
		t.Errorf("unknown flag after NAME: %v", err)
	}
}

// stop -t: a negative or oversized value is refused naming it and the
// allowed range.
func TestStopTimeFlag(t *testing.T) {
	for _, v := range []string{"-1", "99999999999999", "9223372037"} {
		var out, errb bytes.Buffer
		if code := run([]string{"--root", t.TempDir(), "stop", "-t", v, "box"}, &out, &errb); code != exitInternal ||
			!strings.Contains(errb.String(), "--time "+v) || !strings.Contains(errb.String(), "from 0 (SIGKILL at once) to 9223372036") {
			t.Errorf("stop -t %s: %d %q", v, code, errb.String())
		}
	}
}

// exec refuses, as run does, a --timeout that is not a number of seconds (NaN,
// ±Inf) naming it, in every flag position.
func TestTimeoutFlagChecked(t *testing.T) {
	for _, args := range [][]string{
		{"exec", "--timeout", "nan", "box", "true"},
		{"exec", "box", "--timeout=inf", "true"},
		{"exec", "box", "--timeout", "-Inf", "--", "true"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"--root", t.TempDir()}, args...), &out, &errb)
		if code != exitInternal || !strings.Contains(errb.String(), "invalid argument: --timeout") {
			t.Errorf("%q: %d %q; want 125 naming --timeout", args, code, errb.String())
		}
	}
}

// -v right after NAME turns on debug logging as -v before NAME does (the
// root's PersistentPreRun runs before run's own parse of those flags).
func TestVerboseAfterName(t *testing.T) {
	t.Cleanup(func() { logrus.SetLevel(logrus.InfoLevel) })
	for _, args := range [][]string{
		{"run", "-v", "box", "--", "true"},
		{"run", "box", "-v", "--", "true"},
		{"exec", "box", "--verbose", "true"},
	} {
		logrus.SetLevel(logrus.WarnLevel)
		var out, errb bytes.Buffer
		run(append([]string{"--root", t.TempDir()}, args...), &out, &errb)
		if logrus.GetLevel() != logrus.DebugLevel {
			t.Errorf("%q: log level %s; want debug", args, logrus.GetLevel())
		}
	}
}
