package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

var shortIDLine = regexp.MustCompile(`^[0-9a-f]{12}$`)

// cliContainerIDs maps container names to full IDs through ps --json.
func cliContainerIDs(t *testing.T) map[string]string {
	t.Helper()
	out, errs, code := cli(t, "ps", "--json")
	var rows []struct{ ID, Name string }
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil {
		t.Fatalf("ps --json: %d %q %q", code, out, errs)
	}
	m := map[string]string{}
	for _, r := range rows {
		m[r.Name] = r.ID
	}
	return m
}

// quietLines checks that out is short IDs, one per line, each once, and
// returns them as a set.
func quietLines(t *testing.T, what, out string) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" && out == "" {
			break
		}
		if !shortIDLine.MatchString(l) || set[l] {
			t.Fatalf("%s: line %q is not a new 12-hex ID; output %q", what, l, out)
		}
		set[l] = true
	}
	return set
}

// ps/list -a -q, images -q and rm -f as docker users type them.
func TestCLIDockerHabitFlags(t *testing.T) {
	needRoot(t)
	a, b := "cli-habit-a", "cli-habit-b"
	for _, n := range []string{a, b} {
		if _, errs, code := cli(t, "create", "--image", busyboxImage, "--name", n, "--pull", "never"); code != 0 {
			t.Fatalf("create %s: %d %s", n, code, errs)
		}
		t.Cleanup(func() { cli(t, "rm", n) })
	}
	if _, errs, code := cli(t, "stop", b); code != 0 {
		t.Fatalf("stop: %d %s", code, errs)
	}
	ids := cliContainerIDs(t)
	// -q: short IDs of containers in every state (a running, b exited),
	// with or without -a, in every spelling.
	for _, args := range [][]string{{"ps", "-aq"}, {"ps", "-q"}, {"list", "--all", "--quiet"}, {"ls", "-a", "-q"}} {
		out, errs, code := cli(t, args...)
		if code != 0 {
			t.Fatalf("%v: %d %q", args, code, errs)
		}
		got := quietLines(t, strings.Join(args, " "), out)
		for _, n := range []string{a, b} {
			if !got[ids[n][:12]] {
				t.Errorf("%v: %q lacks %s (%s)", args, out, n, ids[n][:12])
			}
		}
	}
	// -a changes nothing in the table either.
	plain, _, _ := cli(t, "ps")
	all, _, _ := cli(t, "ps", "-a")
	if !strings.Contains(plain, b) || !strings.Contains(all, b) || !strings.Contains(all, "exited") {
		t.Errorf("ps / ps -a should both list the exited %s:\n%s\n%s", b, plain, all)
	}
	// images -q: each image's short ID once.
	out, errs, code := cli(t, "images", "-q")
	if code != 0 {
		t.Fatalf("images -q: %d %q", code, errs)
	}
	got := quietLines(t, "images -q", out)
	names := imageNames(t, cliRun{root: stateRoot})
	if len(got) != len(names) {
		t.Errorf("images -q printed %d IDs, images --json lists %d images", len(got), len(names))
	}
	for id := range names {
		if !got[id[:12]] {
			t.Errorf("images -q lacks %s: %q", id[:12], out)
		}
	}
	// -q with --json: refused, naming both.
	for _, args := range [][]string{{"ps", "-q", "--json"}, {"images", "--quiet", "--json"}} {
		out, errs, code := cli(t, args...)
		if code != 125 || out != "" || !strings.Contains(errs, "--quiet") || !strings.Contains(errs, "--json") {
			t.Errorf("%v: %d %q %q; want 125 naming --quiet and --json", args, code, out, errs)
		}
	}
	// Every habit flag is in its command's help.
	for cmd, want := range map[string][]string{
		"ps":     {"-a, --all", "-q, --quiet", "changes nothing"},
		"images": {"-q, --quiet"},
		"rm":     {"-f, --force", "changes nothing"},
		"rmi":    {"-f, --force", "podman rmi -f"},
		"stop":   {"-t, --time", "SIGKILL"},
		"exec":   {"-i, --interactive", "-t, --tty", "ls -la"},
		"run":    {"-d, --detach", "ls -la"},
	} {
		out, _, code := cli(t, cmd, "--help")
		for _, w := range want {
			if code != 0 || !strings.Contains(out, w) {
				t.Errorf("%s --help lacks %q:\n%s", cmd, w, out)
			}
		}
	}
	// rm -f: a running and a stopped container, and an unknown name in
	// between: the name is reported (exit 125), both containers go.
	before := leftOf(t, ids[a])
	if len(before) == 0 {
		t.Fatalf("no state for %s before rm", a)
	}
	_, errs, code = cli(t, "rm", "-f", a, "no-such-habit-ctr", b)
	if code != 125 || !strings.Contains(errs, "no-such-habit-ctr") {
		t.Errorf("rm -f with an unknown name: %d %q; want 125 naming it", code, errs)
	}
	now := cliContainerIDs(t)
	for _, n := range []string{a, b} {
		if _, ok := now[n]; ok {
			t.Errorf("rm -f left %s", n)
		}
		if left := leftOf(t, ids[n]); len(left) > 0 {
			t.Errorf("rm -f left %s's %v", n, left)
		}
	}
	// What rm -f removes can be listed with -q: an empty list of names is
	// an argument error, as in docker.
	if _, errs, code := cli(t, "rm", "-f"); code != 125 || !strings.Contains(errs, "arg") {
		t.Errorf("rm -f without names: %d %q", code, errs)
	}
}

// stop -t SECONDS escalates to SIGKILL after SECONDS: a command that
// ignores SIGTERM keeps the container up for only about that long, not the
// default 10 s.
func TestCLIStopTime(t *testing.T) {
	c := termIgnoringContainer(t)
	name := c.Name()
	// Bad values: refused, naming the value; the container keeps running.
	for _, v := range []string{"-1", "abc"} {
		_, errs, code := cli(t, "stop", "-t", v, name)
		if code != 125 || !strings.Contains(errs, v) {
			t.Errorf("stop -t %s: %d %q; want 125 naming %s", v, code, errs, v)
		}
	}
	if err := c.StopAfter(context.Background(), -time.Second); !errors.Is(err, pocketdock.ErrInvalidArgument) {
		t.Errorf("StopAfter(-1s): %v; want ErrInvalidArgument", err)
	}
	if _, errs, code := cli(t, "stop", "--force", "-t", "3", name); code != 125 || !strings.Contains(errs, "--force") {
		t.Errorf("stop --force -t 3: %d %q", code, errs)
	}
	if in, err := c.Info(context.Background()); err != nil || in.Status != "running" {
		t.Fatalf("after refused stops: %+v %v", in.Status, err)
	}
	start := time.Now()
	_, errs, code := cli(t, "stop", "-t", "1", name)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("stop -t 1: %d %q", code, errs)
	}
	if took >= 8*time.Second {
		t.Errorf("stop -t 1 took %s: the 10 s default grace, not 1 s", took)
	}
	if in, err := c.Info(context.Background()); err != nil || in.Status != "exited" {
		t.Fatalf("after stop -t 1: %+v %v", in.Status, err)
	}
	// Kept for resume, as stop does.
	if _, errs, code := cli(t, "resume", name); code != 0 {
		t.Fatalf("resume: %d %q", code, errs)
	}
	if out, _, code := cli(t, "exec", name, "echo", "back"); code != 0 || out != "back\n" {
		t.Fatalf("after resume: %d %q", code, out)
	}
}

// rmi without -f refuses an image a container uses, naming the container;
// rmi -f removes the container (files and all) and then the image.
func TestCLIRmiForce(t *testing.T) {
	src := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	if _, err := src.Run(ctx, "echo snap > /snap.txt"); err != nil {
		t.Fatal(err)
	}
	img1, img2 := "localhost/habits-rmi:1", "localhost/habits-rmi:2"
	id, err := src.Snapshot(ctx, img1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli(t, "rmi", "-f", id) })
	if _, errs, code := cli(t, "tag", img1, img2); code != 0 {
		t.Fatalf("tag: %d %q", code, errs)
	}
	before := hostState(t)
	name := "cli-habit-rmi"
	if _, errs, code := cli(t, "create", "--image", img1, "--name", name, "--pull", "never", "--persist"); code != 0 {
		t.Fatalf("create: %d %q", code, errs)
	}
	t.Cleanup(func() { cli(t, "rm", name) })
	if out, _, code := cli(t, "run", name, "--", "cat /snap.txt; echo mine > /root/mine.txt"); code != 0 || out != "snap\n" {
		t.Fatalf("run: %d %q", code, out)
	}
	cid := cliContainerIDs(t)[name]
	// One of two names: only untagged, the container untouched.
	if out, errs, code := cli(t, "rmi", img1); code != 0 || !strings.Contains(out, "Removed "+img1) {
		t.Fatalf("rmi %s: %d %q %q", img1, code, out, errs)
	}
	// The last name and the ID: refused, naming the container; all stays.
	for _, ref := range []string{img2, id, id[:12]} {
		_, errs, code := cli(t, "rmi", ref)
		if code != 125 || !strings.Contains(errs, "in use") || !strings.Contains(errs, name) {
			t.Errorf("rmi %s (in use): %d %q; want 125 naming %s", ref, code, errs, name)
		}
	}
	if err := pocketdock.RemoveImage(ctx, stateRoot, id); !errors.Is(err, pocketdock.ErrImageInUse) {
		t.Errorf("RemoveImage in use: %v", err)
	}
	if out, _, code := cli(t, "run", name, "--", "cat /root/mine.txt"); code != 0 || out != "mine\n" {
		t.Fatalf("after refused rmi: %d %q", code, out)
	}
	if _, ok := imageNames(t, cliRun{root: stateRoot})[id]; !ok {
		t.Fatal("refused rmi removed the image")
	}
	// -f: the container goes first, files and all, then the image.
	out, errs, code := cli(t, "rmi", "-f", id[:12])
	if code != 0 || !strings.Contains(out, "Removed container "+name) {
		t.Fatalf("rmi -f: %d %q %q", code, out, errs)
	}
	if _, ok := cliContainerIDs(t)[name]; ok {
		t.Errorf("rmi -f left container %s", name)
	}
	if left := leftOf(t, cid); len(left) > 0 {
		t.Errorf("rmi -f left %v", left)
	}
	if _, ok := imageNames(t, cliRun{root: stateRoot})[id]; ok {
		t.Errorf("rmi -f left image %s", id)
	}
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Errorf("rmi -f left %v", left)
	}
	// The base image and the other containers stay.
	if out, _, code := cli(t, "exec", src.Name(), "cat", "/snap.txt"); code != 0 || out != "snap\n" {
		t.Errorf("source container after rmi -f: %d %q", code, out)
	}
	if _, _, code := cli(t, "images", "-q"); code != 0 {
		t.Error("images after rmi -f")
	}
	if _, errs, code := cli(t, "rmi", "-f", "pocketdock/no-such-image"); code != 125 || !strings.Contains(errs, "no-such-image") {
		t.Errorf("rmi -f unknown: %d %q", code, errs)
	}
}

// exec and run take docker's argument form: the command's own flags need
// no "--"; flags right after NAME still belong to pocketdock.
func TestCLIDockerCommandArgs(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	name := c.Name()
	for _, tc := range []struct {
		args []string
		out  string
	}{
		{[]string{"exec", name, "ls", "-d", "/tmp"}, "/tmp\n"},
		{[]string{"exec", name, "--", "ls", "-d", "/tmp"}, "/tmp\n"},
		{[]string{"exec", "-e", "X=1", name, "sh", "-c", "echo $X"}, "1\n"},
		{[]string{"exec", name, "-e", "X=2", "--", "sh", "-c", "echo $X"}, "2\n"},
		{[]string{"exec", name, "-e", "X=3", "sh", "-c", "echo $X"}, "3\n"},
		{[]string{"exec", name, "echo", "--json", "-x"}, "--json -x\n"},
		{[]string{"run", name, "echo", "-n", "a"}, "a"},
		{[]string{"run", name, "-u", "root", "--", "id -u"}, "0\n"},
		{[]string{"run", "--timeout", "30", name, "--", "echo ok"}, "ok\n"},
	} {
		out, errs, code := cli(t, tc.args...)
		if code != 0 || out != tc.out {
			t.Errorf("%v: %d %q %q; want %q", tc.args, code, out, errs, tc.out)
		}
	}
	if _, errs, code := cli(t, "exec", name, "--bogus", "--", "true"); code != 125 || !strings.Contains(errs, "--bogus") {
		t.Errorf("exec NAME --bogus: %d %q", code, errs)
	}
	if _, _, code := cli(t, "exec", name); code != 125 {
		t.Errorf("exec NAME without a command: %d", code)
	}
}

// onPty runs the CLI with a pty (40x100) as its controlling terminal,
// types input and returns what it printed and its exit code.
func onPty(t *testing.T, input string, args ...string) (string, int) {
	t.Helper()
	master, cmd, done := startOnPty(t, args...)
	defer master.Close()
	var seen bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			seen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	master.Write([]byte(input))
	var werr error
	select {
	case werr = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not end", args)
	}
	select {
	case <-readDone:
	case <-time.After(time.Second):
	}
	master.Close()
	<-readDone
	code := 0
	if ee, ok := werr.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if werr != nil {
		t.Fatal(werr)
	}
	return seen.String(), code
}

// exec -it NAME sh and run -it NAME sh open a terminal as docker exec -it
// does: the typed line runs, the window size is passed, the exit code
// comes back.
func TestCLIExecItTerminal(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage})
	for _, args := range [][]string{{"exec", "-it", c.Name(), "sh"}, {"run", "-it", c.Name(), "sh"}} {
		out, code := onPty(t, "stty size; test -t 0 && echo h''i; exit 3\n", args...)
		if code != 3 || !strings.Contains(out, "hi\r\n") || !strings.Contains(out, "40 100") {
			t.Errorf("%v: exit %d, saw %q; want 3, hi and 40 100", args, code, out)
		}
	}
}
