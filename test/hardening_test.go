package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

// endless is a stdin that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}

func TestConcurrentRuns(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := c.Run(ctx, fmt.Sprintf("echo out%d; echo err%d >&2; exit %d", i, i, i%7))
			if err != nil {
				errs <- fmt.Errorf("run %d: %w", i, err)
				return
			}
			if res.Stdout != fmt.Sprintf("out%d\n", i) || res.Stderr != fmt.Sprintf("err%d\n", i) || res.ExitCode != i%7 {
				errs <- fmt.Errorf("run %d: %+v", i, res)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestHugeInputAndOutput(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()

	// 1 GB of output: capped, drained, no deadlock.
	res, err := c.Run(ctx, "head -c 1000000000 /dev/zero; echo done >&2", pocketdock.WithTimeout(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || len(res.Stdout) != 10<<20 || res.Stderr != "done\n" || res.ExitCode != 0 {
		t.Fatalf("1 GB: exit %d truncated %v stdout %d bytes stderr %q", res.ExitCode, res.Truncated, len(res.Stdout), res.Stderr)
	}

	// A stdin that never ends: the command reads a little and exits; Run returns.
	res, err = c.Run(ctx, "head -c 5", pocketdock.WithStdin(endless{}))
	if err != nil || res.Stdout != "yyyyy" {
		t.Fatalf("endless stdin: %+v %v", res, err)
	}
	// ... and a command that reads it all is ended by the timeout.
	res, err = c.Run(ctx, "cat >/dev/null", pocketdock.WithStdin(endless{}), pocketdock.WithTimeout(time.Second))
	if err != nil || !res.TimedOut {
		t.Fatalf("endless stdin with timeout: %+v %v", res, err)
	}

	// A command text too big for execve (> 128 KiB in one argument): a
	// result or an error, never a hang, and the container still works.
	big := "echo " + strings.Repeat("a", 200<<10)
	if res, err := c.Run(ctx, big); err == nil && res.ExitCode == 0 {
		t.Fatalf("200 KiB argument: want a failure, got %+v", res)
	}
	// Beyond the agent's frame size: a clean error.
	if _, err := c.Run(ctx, "true", pocketdock.WithEnv("BIG="+strings.Repeat("b", 2<<20))); err == nil {
		t.Fatal("2 MiB env entry: want an error")
	}
	// Many env entries that fit.
	var env []string
	for i := 0; i < 2000; i++ {
		env = append(env, fmt.Sprintf("V%d=%s", i, strings.Repeat("v", 20)))
	}
	res, err = c.Run(ctx, "echo $V1999", pocketdock.WithEnv(env...))
	if err != nil || res.Stdout != strings.Repeat("v", 20)+"\n" {
		t.Fatalf("2000 env entries: %+v %v", res, err)
	}
	if res, err := c.Run(ctx, "echo still"); err != nil || res.Stdout != "still\n" {
		t.Fatalf("after abuse: %+v %v", res, err)
	}
}

func TestRunContextCancelled(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	res, err := c.Run(ctx, "sleep 100 & sleep 100", pocketdock.WithTimeout(-1))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: want context.Canceled, got %v (%+v)", err, res)
	}
	if time.Since(start) > 50*time.Second {
		t.Fatal("cancelled run waited for the command")
	}
	// Nothing but PID 1 is left in the container.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := cgroupProcs(t, c.ID())
		if len(pids) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left after cancel: %v", pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShutdownTwiceAndDestroyAfter(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	before := hostState(t)
	c, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: stateRoot, Pull: "never"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy(ctx) })
	if err := c.Shutdown(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx, false); err != nil && !errors.Is(err, pocketdock.ErrContainerNotFound) && !errors.Is(err, pocketdock.ErrContainerGone) {
		t.Fatalf("second shutdown: %v", err)
	}
	if err := c.Destroy(ctx); err != nil && !errors.Is(err, pocketdock.ErrContainerNotFound) && !errors.Is(err, pocketdock.ErrContainerGone) {
		t.Fatalf("destroy after shutdown: %v", err)
	}
	if _, err := c.Run(ctx, "true"); !errors.Is(err, pocketdock.ErrContainerGone) && !errors.Is(err, pocketdock.ErrContainerNotRunning) {
		t.Fatalf("run after shutdown: %v", err)
	}
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestDestroyPaused(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	// Freeze it behind pocketdock's back (cgroup v1 freezer or v2 cgroup.freeze).
	var f, val string
	for _, cand := range [][2]string{
		{"/sys/fs/cgroup/freezer/pocketdock/" + c.ID() + "/freezer.state", "FROZEN"},
		{"/sys/fs/cgroup/pocketdock/" + c.ID() + "/cgroup.freeze", "1"},
	} {
		if _, err := os.Stat(cand[0]); err == nil {
			f, val = cand[0], cand[1]
			break
		}
	}
	if f == "" {
		t.Skip("no freezer for the container's cgroup")
	}
	if err := os.WriteFile(f, []byte(val), 0); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != "paused" {
		t.Fatalf("frozen container: status %q", info.Status)
	}
	if _, err := c.Run(ctx, "true"); !errors.Is(err, pocketdock.ErrContainerNotRunning) {
		t.Fatalf("run on paused: want ErrContainerNotRunning, got %v", err)
	}
	id := c.ID()
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if left := leftOf(t, id); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestAgentKilledFromHost(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.FindProcess(info.PID1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err = c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Status == "exited" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after kill -9 of PID 1: %q", info.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.Run(ctx, "true"); !errors.Is(err, pocketdock.ErrContainerNotRunning) {
		t.Fatalf("run: want ErrContainerNotRunning, got %v", err)
	}
	id := c.ID()
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if left := leftOf(t, id); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// The agent binary is a read-only bind: container root cannot replace it,
// and nothing in the container reaches a host file through PID 1's fds.
func TestContainerCannotTouchHostFiles(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	res, err := c.Run(ctx, `echo x > /dev/.pocketdock-init; cp /bin/busybox /dev/.pocketdock-init; umount /dev/.pocketdock-init; rm -f /dev/.pocketdock-init; mount -o remount,rw /dev/.pocketdock-init; echo x > /dev/.pocketdock-init && echo WROTE
for fd in /proc/1/fd/*; do (echo INJECTED >> $fd) 2>/dev/null && echo "wrote $fd -> $(readlink $fd)"; done; true`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Stdout, "WROTE") {
		t.Errorf("container root replaced the agent binary: %q", res.Stdout)
	}
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		// Pipes and /dev/null are the container's own; a path is a host file.
		if _, target, ok := strings.Cut(line, " -> "); ok && strings.HasPrefix(target, "/") && target != "/dev/null" {
			t.Errorf("container root wrote through PID 1's fd: %s", line)
		}
	}
	// The agent binary on the host is unchanged.
	res, err = c.Run(ctx, "cat /proc/1/cmdline")
	if err != nil || !strings.HasPrefix(res.Stdout, "/dev/.pocketdock-init") {
		t.Fatalf("agent: %+v %v", res, err)
	}
	matches, _ := filepath.Glob(filepath.Join(stateRoot, "run", "c", c.ID(), "*"))
	for _, m := range matches {
		if data, err := os.ReadFile(m); err == nil && strings.Contains(string(data), "INJECTED") {
			t.Errorf("container wrote into host file %s", m)
		}
	}
}

// kill -9 of the CLI at many points of create: whatever is left, a later
// `rm` removes all of it (records still "creating" included).
func TestCreateKilledMidwayIsRemovable(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	var names []string
	for i := 0; i < 16; i++ {
		name := fmt.Sprintf("killed-%d", i)
		names = append(names, name)
		cmd := exec.Command(cliBin, "--root", stateRoot, "create", "--image", busyboxImage, "--name", name, "--pull", "never")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i*10) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}
	list, err := pocketdock.ListContainersIn(ctx, stateRoot, "")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	creating := 0
	for _, c := range list {
		if strings.HasPrefix(c.Name, "killed-") {
			ids[c.Name] = c.ID
			if c.Status == "creating" {
				creating++
			}
		}
	}
	t.Logf("%d of %d creates left a record, %d of them still creating", len(ids), len(names), creating)
	for _, name := range names {
		id, ok := ids[name]
		if !ok {
			continue
		}
		if _, errs, code := cli(t, "rm", name); code != 0 {
			t.Errorf("rm %s: exit %d: %s", name, code, errs)
		}
		if left := leftOf(t, id); len(left) > 0 {
			t.Errorf("%s: left behind after rm: %v", name, left)
		}
	}
}

// A command that ignores SIGTERM: graceful shutdown ends it with SIGKILL
// after the grace period (long before the command would end), force at
// once; runs meanwhile and afterwards fail with a typed error.
func TestShutdownOfTermIgnoringCommand(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	for _, force := range []bool{false, true} {
		c, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: stateRoot, Pull: "never"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Destroy(context.Background()) })
		id := c.ID()
		runErr := make(chan error, 1)
		go func() {
			_, err := c.Run(ctx, `trap "" TERM; sleep 300; echo done`, pocketdock.WithTimeout(-1))
			runErr <- err
		}()
		// Wait until sleep runs: the trap is set by then (counting processes
		// would race with the shell before its trap).
		deadline := time.Now().Add(10 * time.Second)
		for !hasProc(t, id, "sleep") {
			if time.Now().After(deadline) {
				t.Fatal("the command did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- c.Shutdown(ctx, force) }()
		if !force {
			// While the agent waits for the command: new runs are refused
			// with ErrContainerNotRunning.
			time.Sleep(500 * time.Millisecond)
			if _, err := c.Run(ctx, "true"); !errors.Is(err, pocketdock.ErrContainerNotRunning) {
				t.Errorf("run while shutting down: want ErrContainerNotRunning, got %v", err)
			}
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(120 * time.Second):
			t.Fatalf("shutdown(force=%v) did not end long before the 300 s sleep", force)
		}
		if force && time.Since(start) > pocketdock.DefaultStopGrace {
			t.Errorf("forced shutdown waited out the grace period (%s)", time.Since(start))
		}
		if err := <-runErr; !errors.Is(err, pocketdock.ErrContainerNotRunning) && !errors.Is(err, pocketdock.ErrContainerGone) {
			t.Errorf("the run cut by shutdown: want ErrContainerNotRunning or ErrContainerGone, got %v", err)
		}
		if left := leftOf(t, id); len(left) > 0 {
			t.Fatalf("after shutdown: %v", left)
		}
	}
}

// Container root controls the files the host reads from the rootfs
// (/etc/passwd, /etc/group for WithUser): a FIFO, a symlink out, a huge file
// must not hang the host or leak host files.
func TestHostileRootfsUserFiles(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	for _, setup := range []string{
		"rm -f /etc/passwd && mkfifo /etc/passwd",
		"rm -f /etc/passwd && ln -s /proc/1/root/../../../etc/shadow /etc/passwd",
		"rm -f /etc/passwd && ln -s ../../../../../../etc/shadow /etc/passwd",
		"rm -f /etc/passwd && head -c 100000000 /dev/zero > /etc/passwd",
		"rm -f /etc/group && mkfifo /etc/group && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd.new && mv /etc/passwd.new /etc/passwd",
	} {
		if res, err := c.Run(ctx, setup); err != nil || res.ExitCode != 0 {
			t.Fatalf("%s: %+v %v", setup, res, err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.Run(ctx, "true", pocketdock.WithUser("daemon"))
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: user daemon resolved", setup)
			} else if strings.Contains(err.Error(), "$") {
				t.Errorf("%s: error shows file content: %v", setup, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: Run(WithUser) hangs", setup)
		}
	}
}

// kill -9 of the CLI while it waits out the grace period of a shutdown: the
// container is left running but refuses new commands with
// ErrContainerNotRunning; a later rm removes everything at once.
func TestShutdownKilledMidway(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	name := "shutdown-killed"
	if _, errs, code := cli(t, "create", "--image", busyboxImage, "--name", name, "--pull", "never"); code != 0 {
		t.Fatalf("create: %s", errs)
	}
	t.Cleanup(func() { cli(t, "rm", name) })
	c, err := pocketdock.GetContainerIn(ctx, stateRoot, name)
	if err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx, `trap "" TERM; sleep 300`, pocketdock.WithTimeout(-1))
	deadline := time.Now().Add(10 * time.Second)
	for len(cgroupProcs(t, c.ID())) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the command did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd := exec.Command(cliBin, "--root", stateRoot, "shutdown", "-y", name)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := c.Run(ctx, "true"); !errors.Is(err, pocketdock.ErrContainerNotRunning) {
		t.Errorf("run after a killed shutdown: want ErrContainerNotRunning, got %v", err)
	}
	start := time.Now()
	if _, errs, code := cli(t, "rm", name); code != 0 {
		t.Fatalf("rm: %s", errs)
	}
	if time.Since(start) > pocketdock.DefaultStopGrace {
		t.Errorf("rm waited out a grace period")
	}
	if left := leftOf(t, c.ID()); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// Bad run input is ErrInvalidArgument and names the value; the container
// keeps working.
func TestRunBadInput(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	for _, tc := range []struct {
		cmd  string
		opts []pocketdock.RunOption
		want string
	}{
		{"echo a\x00b", nil, `a\x00b`},
		{"true", []pocketdock.RunOption{pocketdock.WithEnv("A=b\x00c")}, `A=b\x00c`},
		{"true", []pocketdock.RunOption{pocketdock.WithEnv("noequals")}, "noequals"},
		{"true", []pocketdock.RunOption{pocketdock.WithEnv("=x")}, "=x"},
		{"true", []pocketdock.RunOption{pocketdock.WithUser("-1")}, "-1"},
		{"true", []pocketdock.RunOption{pocketdock.WithWorkdir("rel")}, "rel"},
		{"true", []pocketdock.RunOption{pocketdock.WithLang("cobol")}, "cobol"},
	} {
		_, err := c.Run(ctx, tc.cmd, tc.opts...)
		if !errors.Is(err, pocketdock.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %d options: want ErrInvalidArgument naming %q, got %v", tc.cmd, len(tc.opts), tc.want, err)
		}
	}
	if _, err := c.Exec(ctx, []string{"a\x00b"}); !errors.Is(err, pocketdock.ErrInvalidArgument) {
		t.Errorf("exec with NUL: want ErrInvalidArgument, got %v", err)
	}
	if res, err := c.Run(ctx, "echo still"); err != nil || res.Stdout != "still\n" {
		t.Fatalf("after bad input: %+v %v", res, err)
	}
}

// Create options that no command could run with are refused up front
// (ErrInvalidArgument naming the value) and leave nothing behind.
func TestCreateBadProcessOptions(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	before := hostState(t)
	for _, o := range []pocketdock.Options{
		{Env: []string{"A=b\x00c"}},
		{Env: []string{"=x"}},
		{Workdir: "/tmp\x00x"},
		{User: "root\x00x"},
		{Hostname: "bad host"},
	} {
		o.Image, o.Root, o.Pull = busyboxImage, stateRoot, "never"
		c, err := pocketdock.CreateNewContainer(ctx, o)
		if err == nil {
			c.Destroy(ctx)
			t.Errorf("%+v: create succeeded", o)
			continue
		}
		if !errors.Is(err, pocketdock.ErrInvalidArgument) {
			t.Errorf("%+v: want ErrInvalidArgument, got %v", o, err)
		}
	}
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// Two handles of one container: after one destroyed it, the other's
// Shutdown, Destroy and Run report it gone and recreate nothing.
func TestStaleHandle(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	before := hostState(t)
	for _, persist := range []bool{false, true} {
		c1, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: stateRoot, Pull: "never", Persist: persist})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c1.Destroy(ctx) })
		c2, err := pocketdock.GetContainerIn(ctx, stateRoot, c1.ID())
		if err != nil {
			t.Fatal(err)
		}
		if err := c1.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c2.Shutdown(ctx, false); err != nil && !errors.Is(err, pocketdock.ErrContainerGone) && !errors.Is(err, pocketdock.ErrContainerNotFound) {
			t.Errorf("persist=%v: shutdown of a destroyed container: %v", persist, err)
		}
		if left := diffState(before, hostState(t)); len(left) > 0 {
			t.Errorf("persist=%v: left behind by shutdown: %v", persist, left)
		}
		if err := c2.Destroy(ctx); err != nil && !errors.Is(err, pocketdock.ErrContainerGone) && !errors.Is(err, pocketdock.ErrContainerNotFound) {
			t.Errorf("persist=%v: destroy of a destroyed container: %v", persist, err)
		}
		if _, err := c2.Run(ctx, "true"); !errors.Is(err, pocketdock.ErrContainerGone) {
			t.Errorf("persist=%v: run on a destroyed container: want ErrContainerGone, got %v", persist, err)
		}
		if left := diffState(before, hostState(t)); len(left) > 0 {
			t.Errorf("persist=%v: left behind: %v", persist, left)
		}
	}
}

// A fork bomb under a small pids limit: the timeout still kills the whole
// tree, and the container runs commands afterwards.
func TestForkBombIsContained(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage, PidsLimit: 64})
	ctx := context.Background()
	res, err := c.Run(ctx, `b() { b | b & }; b; sleep 100`, pocketdock.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatalf("fork bomb: %v", err)
	}
	if !res.TimedOut {
		t.Fatalf("fork bomb: %+v", res)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err = c.Run(ctx, "echo alive")
		if err == nil && res.Stdout == "alive\n" && len(cgroupProcs(t, c.ID())) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the fork bomb: %+v %v, %d processes", res, err, len(cgroupProcs(t, c.ID())))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A state root longer than a unix socket path may be (108 bytes) and with
// spaces in it: the whole lifecycle works and leaves nothing.
func TestLongStateRootWithSpaces(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	base, err := os.MkdirTemp("", "pd-long-")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, strings.Repeat("x", 100), "with space", "and ünïcode")
	if len(filepath.Join(root, "run", "c", strings.Repeat("0", 64), "agent.sock")) <= 108 {
		t.Fatal("root not long enough")
	}
	t.Cleanup(func() { cleanupRoot(root); os.RemoveAll(base) })
	if _, err := pocketdock.ImportImage(ctx, root, filepath.Join(repoRoot(), "test", "fixtures", "out", "busybox.tar"), "", nil); err != nil {
		t.Fatal(err)
	}
	c, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: root, Pull: "never"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(ctx, "echo ok")
	if err != nil || res.Stdout != "ok\n" {
		t.Fatalf("run: %+v %v", res, err)
	}
	id := c.ID()
	if err := c.Shutdown(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"containers", "run/c", "run/runc"} {
		if ents, _ := os.ReadDir(filepath.Join(root, d)); len(ents) > 0 {
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), ".") {
					t.Errorf("left in %s: %s", d, e.Name())
				}
			}
		}
	}
	if dirs := cgroupDirs(id); len(dirs) > 0 {
		t.Errorf("cgroups left: %v", dirs)
	}
}

// Many containers created, used and destroyed at once from one process.
func TestConcurrentLifecycles(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ids := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: stateRoot, Pull: "never"})
			if err != nil {
				errs <- err
				return
			}
			ids <- c.ID()
			defer c.Destroy(ctx)
			res, err := c.Run(ctx, fmt.Sprintf("echo %d", i))
			if err != nil || res.Stdout != fmt.Sprintf("%d\n", i) {
				errs <- fmt.Errorf("run %d: %+v %v", i, res, err)
			}
			if err := c.Shutdown(ctx, i%2 == 0); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Error(err)
	}
	for id := range ids {
		if left := leftOf(t, id); len(left) > 0 {
			t.Errorf("%s left: %v", id, left)
		}
	}
}

// A Shutdown whose context ends during the grace period still ends with
// the container gone, not half-stopped.
func TestShutdownContextCancelled(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	c, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: stateRoot, Pull: "never"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy(ctx) })
	id := c.ID()
	go c.Run(ctx, `trap "" TERM; sleep 300`, pocketdock.WithTimeout(-1))
	deadline := time.Now().Add(10 * time.Second)
	for len(cgroupProcs(t, id)) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the command did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = c.Shutdown(sctx, false)
	t.Logf("shutdown with a short context: %v", err)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want nil or the context's error, got %v", err)
	}
	if left := leftOf(t, id); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// Runs — finished, timed out, cancelled, refused — leak no file descriptors
// in the calling process.
func TestRunLeaksNoFDs(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	c.Run(ctx, "true") // warm up (image store, sockets of the runtime)
	before := count()
	for i := 0; i < 20; i++ {
		c.Run(ctx, "echo x; echo y >&2", pocketdock.WithStdin(strings.NewReader("in")))
		c.Run(ctx, "sleep 10", pocketdock.WithTimeout(50*time.Millisecond))
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		c.Run(cctx, "sleep 10", pocketdock.WithTimeout(-1))
		cancel()
		c.Run(ctx, "true", pocketdock.WithEnv("BAD"))
		c.Run(ctx, "true", pocketdock.WithWorkdir("/nonexistent"))
		c.Run(ctx, "sleep 10 & echo bg")
	}
	// Allow the kernel and the runtime a moment to close what they hand off.
	deadline := time.Now().Add(5 * time.Second)
	for count() > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := count(); after > before+2 {
		t.Fatalf("open fds: %d before, %d after 120 runs", before, after)
	}
}

// kill -9 of an import leaves its staging files; the next process that
// opens the store removes them, and its own when it is done.
func TestImportKilledLeavesNoTempFiles(t *testing.T) {
	needRoot(t)
	root, err := os.MkdirTemp("", "pd-imp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupRoot(root) })
	fixture := filepath.Join(repoRoot(), "test", "fixtures", "out", "minimal-python.tar")
	tmp := filepath.Join(root, "storage", "tmp")
	cmd := exec.Command(cliBin, "--root", root, "import", fixture)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it staged something.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var staged int64
		filepath.Walk(tmp, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				staged += fi.Size()
			}
			return nil
		})
		if staged > 1<<20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	out, err := exec.Command(cliBin, "--root", root, "import", filepath.Join(repoRoot(), "test", "fixtures", "out", "busybox.tar")).CombinedOutput()
	if err != nil {
		t.Fatalf("import after a killed import: %v: %s", err, out)
	}
	ents, _ := os.ReadDir(tmp)
	for _, e := range ents {
		t.Errorf("left in storage/tmp: %s", e.Name())
	}
}

// Commands inherit only stdin, stdout and stderr, and container root cannot
// connect to the agent's listening socket through PID 1's fds.
func TestContainerCannotReachAgentSocket(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage, User: "root"})
	ctx := context.Background()
	res, err := c.Run(ctx, `
import os, socket
print(sorted(int(f) for f in os.listdir("/proc/self/fd")))
for fd in os.listdir("/proc/1/fd"):
    p = "/proc/1/fd/" + fd
    if not os.readlink(p).startswith("socket:"):
        continue
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(p)
        print("connected", p)
    except OSError:
        pass
`, pocketdock.WithLang("python"))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	// 0, 1, 2 and the fd listdir itself holds.
	if lines[0] != "[0, 1, 2, 3]" {
		t.Errorf("a command's fds: %s", lines[0])
	}
	for _, l := range lines[1:] {
		t.Errorf("container root reached an agent socket: %s", l)
	}
}

// hasProc reports whether a process named comm is in container id's cgroup.
func hasProc(t *testing.T, id, comm string) bool {
	for _, pid := range cgroupProcs(t, id) {
		if c, _, ok := procStat(pid); ok && c == comm {
			return true
		}
	}
	return false
}
