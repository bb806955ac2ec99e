package test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

func TestRunBasics(t *testing.T) {
	for _, img := range []string{busyboxImage, pythonImage} {
		t.Run(strings.ReplaceAll(img, "/", "_"), func(t *testing.T) {
			c := newContainer(t, pocketdock.Options{Image: img})
			ctx := context.Background()

			res, err := c.Run(ctx, "echo hello")
			if err != nil {
				t.Fatal(err)
			}
			if res.Stdout != "hello\n" || res.ExitCode != 0 || !res.OK() {
				t.Fatalf("echo hello: %+v", res)
			}
			res, err = c.Run(ctx, "echo oops >&2; exit 7")
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 7 || res.Stderr != "oops\n" || res.Stdout != "" || res.OK() {
				t.Fatalf("exit 7: %+v", res)
			}
			res, err = c.Run(ctx, "no-such-program-xyz")
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 127 {
				t.Fatalf("missing program: want exit 127, got %+v", res)
			}
			// PID 1 is our agent, in both images.
			res, err = c.Run(ctx, "cat /proc/1/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimRight(res.Stdout, "\x00"); got != "/dev/.pocketdock-init" {
				t.Fatalf("PID 1 cmdline = %q", got)
			}
			res, err = c.Run(ctx, "cat", pocketdock.WithStdin(strings.NewReader("from stdin")))
			if err != nil || res.Stdout != "from stdin" {
				t.Fatalf("stdin: %+v %v", res, err)
			}
		})
	}
}

func TestRunAsImageUser(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage})
	ctx := context.Background()
	res, err := c.Run(ctx, `id -un; pwd; echo $HOME`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "sandbox\n/home/sandbox\n/home/sandbox\n" {
		t.Fatalf("user/cwd/home: %q (stderr %q)", res.Stdout, res.Stderr)
	}
	res, err = c.Run(ctx, "id -u", pocketdock.WithUser("root"))
	if err != nil || res.Stdout != "0\n" {
		t.Fatalf("WithUser(root): %+v %v", res, err)
	}
	if _, err := c.Run(ctx, "true", pocketdock.WithUser("nobody-here")); !errors.Is(err, pocketdock.ErrInvalidArgument) {
		t.Fatalf("unknown user: want ErrInvalidArgument, got %v", err)
	}
	res, err = c.Run(ctx, "import json, subprocess, sys\nprint(json.dumps({'sum': sum(range(10)), 'py': sys.version_info[0]}))", pocketdock.WithLang("python"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "{\"sum\": 45, \"py\": 3}\n" {
		t.Fatalf("python: %+v", res)
	}
	res, err = c.Run(ctx, "echo $FOO", pocketdock.WithEnv("FOO=bar"), pocketdock.WithWorkdir("/tmp"))
	if err != nil || res.Stdout != "bar\n" {
		t.Fatalf("env: %+v %v", res, err)
	}
}

func TestTimeoutKillsWholeTree(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	start := time.Now()
	res, err := c.Run(ctx, "sleep 100 & setsid sleep 100 & sleep 100", pocketdock.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.ExitCode != -1 || res.OK() {
		t.Fatalf("want a timeout, got %+v", res)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("timeout took %s", d)
	}
	// No sleep is left anywhere in the container.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var sleeps []int
		for _, pid := range cgroupProcs(t, c.ID()) {
			if comm, _, ok := procStat(pid); ok && comm == "sleep" {
				sleeps = append(sleeps, pid)
			}
		}
		if len(sleeps) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep processes left after timeout: %v", sleeps)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The container is still usable.
	if res, err := c.Run(ctx, "echo ok"); err != nil || res.Stdout != "ok\n" {
		t.Fatalf("after timeout: %+v %v", res, err)
	}
}

func TestOutputCapNoDeadlock(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	res, err := c.Run(context.Background(), "head -c 20000000 /dev/zero; head -c 3000000 /dev/zero >&2; echo done >&2")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 10<<20 || !res.Truncated || res.ExitCode != 0 {
		t.Fatalf("stdout %d bytes, truncated %v, exit %d", len(res.Stdout), res.Truncated, res.ExitCode)
	}
	if len(res.Stderr) != 3000005 {
		t.Fatalf("stderr %d bytes", len(res.Stderr))
	}
	res, err = c.Run(context.Background(), "head -c 5000 /dev/zero", pocketdock.WithMaxOutput(100))
	if err != nil || len(res.Stdout) != 100 || !res.Truncated {
		t.Fatalf("max output 100: %d bytes, %+v", len(res.Stdout), err)
	}
}

func TestBackgroundChildDoesNotBlockAndIsReaped(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	start := time.Now()
	res, err := c.Run(ctx, "sleep 1 & echo started")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "started\n" || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("run waited for the background child: %+v after %s", res, time.Since(start))
	}
	// After the orphan ends, PID 1 reaps it: no zombie stays in the container.
	time.Sleep(1500 * time.Millisecond)
	for _, pid := range cgroupProcs(t, c.ID()) {
		if comm, state, ok := procStat(pid); ok && state == 'Z' {
			t.Fatalf("zombie left: pid %d (%s)", pid, comm)
		}
	}
}

func TestShutdownLeavesNothing(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	for _, force := range []bool{false, true} {
		c, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: stateRoot, Pull: "never"})
		if err != nil {
			t.Fatal(err)
		}
		id := c.ID()
		if left := leftOf(t, id); len(left) == 0 {
			t.Fatalf("a running container shows no state at all; the leak check cannot see anything")
		}
		if _, err := c.Run(ctx, "sleep 30 &"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Shutdown(ctx, force); err != nil {
			t.Fatal(err)
		}
		// The agent forwards SIGTERM and exits; no grace period is waited out.
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("shutdown(force=%v) took %s", force, d)
		}
		if left := leftOf(t, id); len(left) > 0 {
			t.Fatalf("after shutdown: %v", left)
		}
		if _, err := pocketdock.GetContainerIn(ctx, stateRoot, id); !errors.Is(err, pocketdock.ErrContainerNotFound) {
			t.Fatalf("after shutdown: GetContainer: %v", err)
		}
		if _, err := c.Run(ctx, "true"); err == nil {
			t.Fatal("run after shutdown succeeded")
		}
	}
}

func TestBadInputLeavesNothing(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	existing := newContainer(t, pocketdock.Options{Image: busyboxImage})
	before := hostState(t)

	cases := []struct {
		name string
		opts pocketdock.Options
		want error
	}{
		{"unknown image", pocketdock.Options{Image: "pocketdock/no-such-image"}, pocketdock.ErrImageNotFound},
		{"duplicate name", pocketdock.Options{Image: busyboxImage, Name: existing.Name()}, pocketdock.ErrConflict},
		{"dot-dot name", pocketdock.Options{Image: busyboxImage, Name: "../x"}, pocketdock.ErrInvalidArgument},
		{"slash name", pocketdock.Options{Image: busyboxImage, Name: "a/b"}, pocketdock.ErrInvalidArgument},
		{"long name", pocketdock.Options{Image: busyboxImage, Name: strings.Repeat("a", 300)}, pocketdock.ErrInvalidArgument},
		{"bad pull policy", pocketdock.Options{Image: busyboxImage, Pull: "sometimes"}, pocketdock.ErrInvalidArgument},
		{"unknown user", pocketdock.Options{Image: busyboxImage, User: "nobody-here"}, pocketdock.ErrInvalidArgument},
		{"relative workdir", pocketdock.Options{Image: busyboxImage, Workdir: "tmp"}, pocketdock.ErrInvalidArgument},
	}
	for _, tc := range cases {
		tc.opts.Root = stateRoot
		if tc.opts.Pull == "" {
			tc.opts.Pull = "never"
		}
		c, err := pocketdock.CreateNewContainer(ctx, tc.opts)
		if err == nil {
			c.Destroy(ctx)
			t.Errorf("%s: create succeeded", tc.name)
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: want %v, got %v", tc.name, tc.want, err)
		}
		if left := diffState(before, hostState(t)); len(left) > 0 {
			t.Errorf("%s: left behind %v", tc.name, left)
		}
	}
	// The error names the bad value.
	_, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: stateRoot, Name: "a/b"})
	if err == nil || !strings.Contains(err.Error(), `"a/b"`) {
		t.Errorf("error does not name the value: %v", err)
	}
	if _, err := pocketdock.GetContainerIn(ctx, stateRoot, "no-such-container"); !errors.Is(err, pocketdock.ErrContainerNotFound) {
		t.Errorf("unknown container: %v", err)
	}
}

func TestRunOnStoppedContainer(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	c, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: stateRoot, Pull: "never", Persist: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy(context.Background()) })
	if err := c.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.Status != "exited" {
		t.Fatalf("persistent container after shutdown: %+v %v", info, err)
	}
	if _, err := c.Run(ctx, "true"); !errors.Is(err, pocketdock.ErrContainerNotRunning) {
		t.Fatalf("run on stopped: want ErrContainerNotRunning, got %v", err)
	}
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if left := leftOf(t, c.ID()); len(left) > 0 {
		t.Fatalf("after destroy: %v", left)
	}
	if _, err := os.Stat(stateRoot); err != nil {
		t.Fatal(err)
	}
}
