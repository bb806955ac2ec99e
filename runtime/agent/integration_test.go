package agent

// Integration tests: they build the real cmd/pocketdock-init and run it as an
// ordinary child process (not in a container) with a listening unix socket
// as fd 3. Outside a container every peer has a non-zero pid, so the agent
// is told the test's pid with POCKETDOCK_INIT_ALLOW_PEER_PID (honoured only
// when the agent is not PID 1). Not being PID 1, the agent makes itself a
// child subreaper, so orphans come to it as they would in a container.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	// A command that escapes an agent's tree reparents to us, not to the
	// host's init, so processesWithArgs (which only counts our descendants,
	// to ignore other test runs on the machine) still sees it.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(1)
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// goTool finds the go command (sudo may drop /usr/local/go/bin from PATH).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/usr/local/go/bin/go"
}

// agentBinary builds cmd/pocketdock-init once per test binary.
func agentBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "pocketdock-init-test-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "pocketdock-init")
		cmd := exec.Command(goTool(), "build", "-buildvcs=false", "-o", buildBin, "github.com/pocketdock/pocketdock/cmd/pocketdock-init")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// lockedBuffer is a bytes.Buffer safe for the agent's stderr copier.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testAgent is a running pocketdock-init.
type testAgent struct {
	sock    string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	stderr  lockedBuffer
}

func (a *testAgent) pid() int { return a.cmd.Process.Pid }

// exited waits up to d for the agent to exit and reports its wait error.
func (a *testAgent) exited(d time.Duration) (bool, error) {
	select {
	case <-a.done:
		return true, a.waitErr
	case <-time.After(d):
		return false, nil
	}
}

// listenAt makes a listening unix socket at path (through /proc/self/fd for
// long paths) and returns it as a file.
func listenAt(t *testing.T, path string) *os.File {
	t.Helper()
	addr := path
	if len(path) > 100 {
		dir, err := os.Open(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		defer dir.Close()
		addr = "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + filepath.Base(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	f, err := ln.File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type agentOpt func(a *testAgent, env *[]string)

// noPeerAllowance starts the agent without POCKETDOCK_INIT_ALLOW_PEER_PID.
func noPeerAllowance(a *testAgent, env *[]string) {
	*env = slices.DeleteFunc(*env, func(e string) bool { return strings.HasPrefix(e, "POCKETDOCK_INIT_ALLOW_PEER_PID=") })
}

// startAgentAt starts the real agent listening at sock.
func startAgentAt(t *testing.T, sock string, opts ...agentOpt) *testAgent {
	t.Helper()
	bin := agentBinary(t)
	a := &testAgent{sock: sock, done: make(chan struct{})}
	f := listenAt(t, sock)
	defer f.Close()
	env := []string{testPath, "POCKETDOCK_INIT_ALLOW_PEER_PID=" + strconv.Itoa(os.Getpid())}
	for _, o := range opts {
		o(a, &env)
	}
	a.cmd = exec.Command(bin)
	a.cmd.Env = env
	a.cmd.ExtraFiles = []*os.File{f}
	a.cmd.Stderr = &a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.waitErr = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("agent stderr:\n%s", a.stderr.String())
		}
	})
	return a
}

func startAgent(t *testing.T, opts ...agentOpt) *testAgent {
	t.Helper()
	return startAgentAt(t, filepath.Join(t.TempDir(), "agent.sock"), opts...)
}

// asMe sets r's uid and gid to the test's own, so that the tests also run
// as an ordinary user (switching credentials needs root).
func asMe(r ExecRequest) ExecRequest {
	r.UID, r.GID = uint32(os.Getuid()), uint32(os.Getgid())
	return r
}

// run runs argv through the agent with the test PATH.
func run(t *testing.T, a *testAgent, opts RunOptions, argv ...string) RunResult {
	t.Helper()
	res, err := Run(context.Background(), a.sock, asMe(ExecRequest{Argv: argv, Env: []string{testPath}}), opts)
	if err != nil {
		t.Fatalf("Run %q: %v", argv, err)
	}
	return res
}

// procState returns the state letter of pid and its parent, or ok false when
// the process no longer exists.
func procState(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// processesWithArgs returns the pids whose command line is exactly args.
func processesWithArgs(args ...string) []int {
	want := strings.Join(args, "\x00") + "\x00"
	names, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || string(b) != want {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(n)))
		if descendsFromUs(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// descendsFromUs reports whether pid's parent chain reaches this test
// process: the agents the tests start are our children and subreapers, so
// every command and orphan of theirs stays below us, while the same command
// lines run by other test processes on the machine do not count.
func descendsFromUs(pid int) bool {
	self := os.Getpid()
	for i := 0; i < 64 && pid > 1; i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		s := string(b)
		j := strings.LastIndexByte(s, ')')
		if j < 0 {
			return false
		}
		f := strings.Fields(s[j+1:])
		if len(f) < 2 {
			return false
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			return false
		}
		if ppid == self {
			return true
		}
		pid = ppid
	}
	return false
}

// eventually polls cond every 20 ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pidsFrom parses whitespace-separated pids.
func pidsFrom(t *testing.T, out []byte) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("not a pid: %q in %q", f, out)
		}
		pids = append(pids, pid)
	}
	return pids
}

// killAtCleanup makes sure pids do not outlive the test.
func killAtCleanup(t *testing.T, pids ...int) {
	t.Cleanup(func() {
		for _, p := range pids {
			if _, _, ok := procState(p); ok {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
}

func TestRunEcho(t *testing.T) {
	a := startAgent(t)
	res := run(t, a, RunOptions{}, "sh", "-c", "echo hello; echo oops >&2")
	if res.ExitCode != 0 || string(res.Stdout) != "hello\n" || string(res.Stderr) != "oops\n" || res.TimedOut || res.Truncated {
		t.Fatalf("got %+v (stdout %q, stderr %q)", res, res.Stdout, res.Stderr)
	}
	// The same agent runs many commands, also several at once.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := Run(context.Background(), a.sock, asMe(ExecRequest{Argv: []string{"echo", strconv.Itoa(i)}, Env: []string{testPath}}), RunOptions{})
			if err != nil || string(res.Stdout) != strconv.Itoa(i)+"\n" {
				t.Errorf("parallel run %d: %+v, %v", i, res, err)
			}
		}()
	}
	wg.Wait()
}

func TestRunExitCodes(t *testing.T) {
	a := startAgent(t)
	res := run(t, a, RunOptions{}, "sh", "-c", "echo oops >&2; exit 7")
	if res.ExitCode != 7 || string(res.Stderr) != "oops\n" {
		t.Errorf("exit 7: got %d, stderr %q", res.ExitCode, res.Stderr)
	}
	res = run(t, a, RunOptions{}, "no-such-program-pocketdock", "arg")
	if res.ExitCode != 127 || !strings.Contains(string(res.Stderr), "not found") {
		t.Errorf("missing program: got %d, stderr %q; want 127", res.ExitCode, res.Stderr)
	}
	res = run(t, a, RunOptions{}, "/no/such/dir/prog")
	if res.ExitCode != 127 {
		t.Errorf("missing path: got %d, want 127", res.ExitCode)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	noexec := filepath.Join(dir, "script")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\necho ran\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res = run(t, a, RunOptions{}, noexec)
	if res.ExitCode != 126 || len(res.Stdout) != 0 {
		t.Errorf("not executable: got %d, stdout %q; want 126", res.ExitCode, res.Stdout)
	}
	res = run(t, a, RunOptions{}, dir)
	if res.ExitCode != 126 {
		t.Errorf("directory: got %d, want 126", res.ExitCode)
	}
	res = run(t, a, RunOptions{}, "sh", "-c", "kill -TERM $$")
	if res.ExitCode != 128+15 {
		t.Errorf("killed by SIGTERM: got %d, want 143", res.ExitCode)
	}
	// The PATH searched is the command's, not the agent's.
	res, err := Run(context.Background(), a.sock, asMe(ExecRequest{Argv: []string{"sh", "-c", "true"}, Env: []string{"PATH=/nonexistent"}}), RunOptions{})
	if err != nil || res.ExitCode != 127 {
		t.Errorf("PATH without sh: got %+v, %v; want 127", res, err)
	}
	// An executable found in a PATH directory of the command's env.
	exe := filepath.Join(dir, "hello-pocketdock")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho found \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err = Run(context.Background(), a.sock, asMe(ExecRequest{Argv: []string{"hello-pocketdock", "x"}, Env: []string{"PATH=/nonexistent:" + dir}}), RunOptions{})
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "found x\n" {
		t.Errorf("PATH lookup: got %+v (%q), %v", res, res.Stdout, err)
	}
}

func TestRunCwdAndEnv(t *testing.T) {
	a := startAgent(t)
	dir := t.TempDir()
	res, err := Run(context.Background(), a.sock, asMe(ExecRequest{
		Argv: []string{"sh", "-c", `pwd; echo "$FOO"; env | wc -l`},
		Env:  []string{testPath, "FOO=bar baz"},
		Cwd:  dir,
	}), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	if len(lines) != 3 || lines[0] != dir || lines[1] != "bar baz" {
		t.Fatalf("got %q", res.Stdout)
	}
	// A missing working directory is a start error, not an exit code.
	_, err = Run(context.Background(), a.sock, asMe(ExecRequest{Argv: []string{"true"}, Env: []string{testPath}, Cwd: filepath.Join(dir, "missing")}), RunOptions{})
	if !errors.Is(err, ErrStart) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing cwd: got %v, want ErrStart naming it", err)
	}
	_, err = Run(context.Background(), a.sock, asMe(ExecRequest{Argv: []string{"true"}, Cwd: "relative"}), RunOptions{})
	if !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("relative cwd: got %v, want ErrInvalidRequest", err)
	}
}

func TestRunStdin(t *testing.T) {
	a := startAgent(t)
	in := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB, more than a pipe holds
	res := run(t, a, RunOptions{Stdin: strings.NewReader(in)}, "cat")
	if res.ExitCode != 0 || string(res.Stdout) != in {
		t.Fatalf("cat: exit %d, %d bytes back of %d", res.ExitCode, len(res.Stdout), len(in))
	}
	res = run(t, a, RunOptions{}, "sh", "-c", "cat; echo done")
	if string(res.Stdout) != "done\n" {
		t.Fatalf("nil stdin: got %q", res.Stdout)
	}
	// A command that never reads its stdin still finishes.
	res = run(t, a, RunOptions{Stdin: strings.NewReader(in)}, "true")
	if res.ExitCode != 0 {
		t.Fatalf("true with unread stdin: %+v", res)
	}
}

func TestRunLargeOutputCapped(t *testing.T) {
	a := startAgent(t)
	res := run(t, a, RunOptions{}, "sh", "-c", "head -c 20000000 /dev/zero; head -c 20000000 /dev/zero >&2; echo end >&2")
	if res.ExitCode != 0 || !res.Truncated || res.TimedOut {
		t.Fatalf("got exit %d truncated %v timed out %v", res.ExitCode, res.Truncated, res.TimedOut)
	}
	if len(res.Stdout) != DefaultMaxOutput || len(res.Stderr) != DefaultMaxOutput {
		t.Fatalf("got %d / %d bytes, want %d each", len(res.Stdout), len(res.Stderr), DefaultMaxOutput)
	}
	res = run(t, a, RunOptions{MaxOutput: 5}, "echo", "0123456789")
	if string(res.Stdout) != "01234" || !res.Truncated {
		t.Fatalf("cap 5: got %q truncated %v", res.Stdout, res.Truncated)
	}
	res = run(t, a, RunOptions{MaxOutput: -1}, "head", "-c", "12000000", "/dev/zero")
	if len(res.Stdout) != 12000000 || res.Truncated {
		t.Fatalf("no cap: got %d bytes truncated %v", len(res.Stdout), res.Truncated)
	}
}

func TestRunTimeoutKillsWholeTree(t *testing.T) {
	a := startAgent(t)
	script := "sleep 1017 & echo $!; setsid sleep 1018 & echo $!; sleep 1019"
	start := time.Now()
	res := run(t, a, RunOptions{Timeout: time.Second}, "sh", "-c", script)
	took := time.Since(start)
	pids := pidsFrom(t, res.Stdout)
	killAtCleanup(t, pids...)
	if !res.TimedOut || res.ExitCode != -1 {
		t.Fatalf("got %+v, want TimedOut and exit -1", res)
	}
	if took > 20*time.Second {
		t.Fatalf("Run returned after %v, long after its 1 s timeout", took)
	}
	if len(pids) != 2 {
		t.Fatalf("output so far not kept: %q", res.Stdout)
	}
	for _, args := range [][]string{{"sleep", "1017"}, {"sleep", "1018"}, {"sleep", "1019"}} {
		if left := processesWithArgs(args...); len(left) > 0 {
			t.Errorf("%q still running after the timeout: pids %v", args, left)
		}
	}
	// Killed processes are reaped too (no zombies left behind).
	for _, p := range pids {
		if !eventually(5*time.Second, func() bool { _, _, ok := procState(p); return !ok }) {
			st, ppid, _ := procState(p)
			t.Errorf("pid %d still exists (state %c, parent %d)", p, st, ppid)
		}
	}
}

func TestRunContextCancel(t *testing.T) {
	a := startAgent(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	res, err := Run(ctx, a.sock, asMe(ExecRequest{Argv: []string{"sh", "-c", "echo $$; sleep 1024"}, Env: []string{testPath}}), RunOptions{})
	if !errors.Is(err, context.Canceled) || !res.TimedOut || res.ExitCode != -1 {
		t.Fatalf("got %+v, %v; want TimedOut and context.Canceled", res, err)
	}
	if left := processesWithArgs("sleep", "1024"); len(left) > 0 {
		killAtCleanup(t, left...)
		t.Fatalf("sleep 1024 survived the cancel: %v", left)
	}
	// A ctx deadline counts as a timeout, with no error.
	ctx, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	res, err = Run(ctx, a.sock, asMe(ExecRequest{Argv: []string{"sleep", "1025"}, Env: []string{testPath}}), RunOptions{})
	if err != nil || !res.TimedOut {
		t.Fatalf("ctx deadline: got %+v, %v", res, err)
	}
}

func TestRunBackgroundChildDoesNotBlock(t *testing.T) {
	a := startAgent(t)
	start := time.Now()
	res := run(t, a, RunOptions{}, "sh", "-c", "sleep 5 & echo $!")
	took := time.Since(start)
	pids := pidsFrom(t, res.Stdout)
	killAtCleanup(t, pids...)
	if res.ExitCode != 0 || len(pids) != 1 {
		t.Fatalf("got %+v (%q)", res, res.Stdout)
	}
	if took > 3*time.Second {
		t.Fatalf("Run waited %v for a background child holding the pipes", took)
	}
	if _, _, ok := procState(pids[0]); !ok {
		t.Fatalf("the background sleep was killed; it should keep running")
	}
}

func TestOrphanIsReaped(t *testing.T) {
	a := startAgent(t)
	res := run(t, a, RunOptions{}, "sh", "-c", "sleep 0.5 >/dev/null 2>&1 & echo $!")
	pids := pidsFrom(t, res.Stdout)
	if len(pids) != 1 {
		t.Fatalf("got %q", res.Stdout)
	}
	orphan := pids[0]
	killAtCleanup(t, orphan)
	// Its shell and spawner are gone, so it now belongs to the agent ...
	if !eventually(2*time.Second, func() bool { _, ppid, ok := procState(orphan); return !ok || ppid == a.pid() }) {
		_, ppid, _ := procState(orphan)
		t.Fatalf("orphan %d has parent %d, want the agent %d", orphan, ppid, a.pid())
	}
	// ... which reaps it when it ends: no zombie is left.
	if !eventually(5*time.Second, func() bool { _, _, ok := procState(orphan); return !ok }) {
		st, ppid, _ := procState(orphan)
		t.Fatalf("orphan %d not reaped: state %c, parent %d", orphan, st, ppid)
	}
	for _, c := range childrenOf(a.pid()) {
		if st, _, ok := procState(c); ok && st == 'Z' {
			t.Errorf("zombie %d left under the agent", c)
		}
	}
}

// childrenOf lists the children of pid.
func childrenOf(pid int) []int {
	names, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, n := range names {
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(n)))
		if _, ppid, ok := procState(p); ok && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

func TestRunAsOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: switching uid/gid/groups needs CAP_SETUID and CAP_SETGID")
	}
	a := startAgent(t)
	res, err := Run(context.Background(), a.sock, ExecRequest{
		Argv:   []string{"sh", "-c", "id -u; id -g; id -G"},
		Env:    []string{testPath},
		UID:    1000,
		GID:    1001,
		Groups: []uint32{1003, 1002},
	}, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	if res.ExitCode != 0 || len(lines) != 3 || lines[0] != "1000" || lines[1] != "1001" {
		t.Fatalf("got exit %d, %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	groups := strings.Fields(lines[2])
	slices.Sort(groups)
	if !slices.Equal(groups, []string{"1001", "1002", "1003"}) {
		t.Fatalf("groups %q, want 1001 1002 1003", lines[2])
	}
	// Without groups, root's supplementary groups are dropped.
	res, err = Run(context.Background(), a.sock, ExecRequest{Argv: []string{"id", "-G"}, Env: []string{testPath}, UID: 1000, GID: 1000}, RunOptions{})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "1000" {
		t.Fatalf("no groups: got %q, %v", res.Stdout, err)
	}
	// A file only root can execute gives 126 for uid 1000.
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "rootonly")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho ran\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	res, err = Run(context.Background(), a.sock, ExecRequest{Argv: []string{exe}, Env: []string{testPath}, UID: 1000, GID: 1000}, RunOptions{})
	if err != nil || res.ExitCode != 126 {
		t.Fatalf("root-only file as uid 1000: got %+v, %v; want 126", res, err)
	}
}

func TestCommandOOMScoreAdj(t *testing.T) {
	a := startAgent(t)
	res := run(t, a, RunOptions{}, "cat", "/proc/self/oom_score_adj")
	if strings.TrimSpace(string(res.Stdout)) != "1000" {
		t.Fatalf("command's oom_score_adj: %q, want 1000", res.Stdout)
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(a.pid()) + "/oom_score_adj")
	if strings.TrimSpace(string(b)) == "1000" {
		t.Fatalf("the agent's own oom_score_adj was raised")
	}
}

// startCommand starts argv on a new connection with pipes, returning the
// connection and the read end of stdout.
func startCommand(t *testing.T, a *testAgent, argv ...string) (*Conn, *os.File, int) {
	t.Helper()
	conn, err := Dial(context.Background(), a.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outW.Close()
	t.Cleanup(func() { outR.Close() })
	pid, err := conn.Start(asMe(ExecRequest{Argv: argv, Env: []string{testPath}}), devnull, outW, outW)
	if err != nil {
		t.Fatal(err)
	}
	return conn, outR, pid
}

func TestSignalWholeTree(t *testing.T) {
	a := startAgent(t)
	conn, _, pid := startCommand(t, a, "sh", "-c", "setsid sleep 1026 & sleep 1027; exit 0")
	if st, _, ok := procState(pid); !ok || st == 'Z' {
		t.Fatalf("started pid %d does not run", pid)
	}
	if !eventually(5*time.Second, func() bool {
		return len(processesWithArgs("sleep", "1026")) == 1 && len(processesWithArgs("sleep", "1027")) == 1
	}) {
		t.Fatal("the sleeps did not start")
	}
	killAtCleanup(t, processesWithArgs("sleep", "1026")...)
	if err := conn.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool {
		return len(processesWithArgs("sleep", "1026")) == 0 && len(processesWithArgs("sleep", "1027")) == 0
	}) {
		t.Fatal("SIGTERM did not reach every process of the tree")
	}
	code, err := conn.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// sh's own fate decides the code: killed by SIGTERM, or exit 0 after
	// its sleep died.
	if code != 143 && code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if err := conn.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("signal after exit: %v", err)
	}
}

func TestConnectionDropKillsTree(t *testing.T) {
	a := startAgent(t)
	conn, _, _ := startCommand(t, a, "sh", "-c", "sleep 1021 & setsid sleep 1022 & wait")
	if !eventually(5*time.Second, func() bool {
		return len(processesWithArgs("sleep", "1021")) == 1 && len(processesWithArgs("sleep", "1022")) == 1
	}) {
		t.Fatal("the sleeps did not start")
	}
	left := append(processesWithArgs("sleep", "1021"), processesWithArgs("sleep", "1022")...)
	killAtCleanup(t, left...)
	conn.Close()
	if !eventually(5*time.Second, func() bool {
		return len(processesWithArgs("sleep", "1021")) == 0 && len(processesWithArgs("sleep", "1022")) == 0
	}) {
		t.Fatal("dropping the connection did not kill the command's tree")
	}
}

func TestAgentSIGTERMEndsCommands(t *testing.T) {
	a := startAgent(t)
	conn, _, _ := startCommand(t, a, "sh", "-c", "sleep 1028; exit 0")
	if !eventually(5*time.Second, func() bool { return len(processesWithArgs("sleep", "1028")) == 1 }) {
		t.Fatal("the sleep did not start")
	}
	killAtCleanup(t, processesWithArgs("sleep", "1028")...)
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := conn.Wait()
	if err != nil || (code != 143 && code != 0) {
		t.Fatalf("command after SIGTERM to the agent: %d, %v", code, err)
	}
	done, werr := a.exited(5 * time.Second)
	if !done {
		t.Fatal("the agent did not exit after its commands ended")
	}
	if werr != nil {
		t.Fatalf("agent exit: %v, want status 0", werr)
	}
	if left := processesWithArgs("sleep", "1028"); len(left) > 0 {
		t.Fatalf("sleep survived: %v", left)
	}
}

func TestAgentSIGTERMIdleExitsAtOnce(t *testing.T) {
	a := startAgent(t)
	// Make sure it is up (it is listening either way).
	run(t, a, RunOptions{}, "true")
	a.cmd.Process.Signal(syscall.SIGTERM)
	done, err := a.exited(5 * time.Second)
	if !done || err != nil {
		t.Fatalf("idle agent after SIGTERM: exited %v, %v", done, err)
	}
	// SIGINT and SIGHUP are ignored.
	b := startAgent(t)
	run(t, b, RunOptions{}, "true") // handlers are installed once it serves
	b.cmd.Process.Signal(syscall.SIGINT)
	b.cmd.Process.Signal(syscall.SIGHUP)
	if done, _ := b.exited(300 * time.Millisecond); done {
		t.Fatal("the agent died of SIGINT/SIGHUP")
	}
	if res := run(t, b, RunOptions{}, "true"); res.ExitCode != 0 {
		t.Fatalf("after SIGINT: %+v", res)
	}
}

func TestPeerInsideRefused(t *testing.T) {
	a := startAgent(t, noPeerAllowance)
	_, err := Dial(context.Background(), a.sock)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed (the agent hangs up on peers with a pid)", err)
	}
	if !eventually(2*time.Second, func() bool { return strings.Contains(a.stderr.String(), "refused a peer") }) {
		t.Fatalf("agent stderr: %q", a.stderr.String())
	}
}

func TestAgentProtocolErrors(t *testing.T) {
	a := startAgent(t)
	raw := func() *net.UnixConn {
		c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: a.sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	// Version mismatch: the agent answers with its own version and hangs up.
	c := raw()
	if err := WriteMessage(c, &Message{Type: TypeHello, Version: 99}); err != nil {
		t.Fatal(err)
	}
	m, _, err := ReadMessage(c, 0)
	if err != nil || m.Type != TypeError || m.Version != ProtocolVersion {
		t.Fatalf("hello v99: got %+v, %v", m, err)
	}
	if _, _, err := ReadMessage(c, 0); err == nil {
		t.Fatal("connection still open after a version mismatch")
	}

	// After a good hello: exec without fds and unknown types get errors,
	// and the connection stays usable.
	c = raw()
	WriteMessage(c, &Message{Type: TypeHello, Version: ProtocolVersion})
	if m, _, err := ReadMessage(c, 0); err != nil || m.Type != TypeHello {
		t.Fatalf("hello: %+v, %v", m, err)
	}
	WriteMessage(c, &Message{Type: TypeExec, Exec: &ExecRequest{Argv: []string{"true"}}})
	if m, _, err := ReadMessage(c, 0); err != nil || m.Type != TypeError || !strings.Contains(m.Message, "3 file descriptors") {
		t.Fatalf("exec without fds: %+v, %v", m, err)
	}
	WriteMessage(c, &Message{Type: "no-such-request"})
	if m, _, err := ReadMessage(c, 0); err != nil || m.Type != TypeError {
		t.Fatalf("unknown type: %+v, %v", m, err)
	}
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	fd := int(devnull.Fd())
	WriteMessage(c, &Message{Type: TypeExec, Exec: &ExecRequest{Argv: []string{""}}}, fd, fd, fd)
	if m, _, err := ReadMessage(c, 0); err != nil || m.Type != TypeError || !strings.Contains(m.Message, "argv") {
		t.Fatalf("invalid exec: %+v, %v", m, err)
	}
	// An oversize frame ends the connection.
	writeRaw(t, c, MaxFrameSize+1, nil)
	if m, _, err := ReadMessage(c, 0); err != nil || m.Type != TypeError {
		t.Fatalf("oversize frame: %+v, %v", m, err)
	}
	if _, _, err := ReadMessage(c, 0); err == nil {
		t.Fatal("connection still open after an oversize frame")
	}
	// The agent is still fine.
	if res := run(t, a, RunOptions{}, "true"); res.ExitCode != 0 {
		t.Fatalf("after protocol errors: %+v", res)
	}
}

func TestDialLongSocketPath(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(long, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(long, "agent.sock")
	if len(sock) <= 108 {
		t.Fatalf("path only %d bytes", len(sock))
	}
	a := startAgentAt(t, sock)
	res := run(t, a, RunOptions{}, "echo", "long")
	if string(res.Stdout) != "long\n" {
		t.Fatalf("got %q", res.Stdout)
	}
}

func TestRunStartedPidIsCommand(t *testing.T) {
	a := startAgent(t)
	conn, out, pid := startCommand(t, a, "sh", "-c", "echo $$")
	code, err := conn.Wait()
	if err != nil || code != 0 {
		t.Fatal(code, err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if got := strings.TrimSpace(string(buf[:n])); got != strconv.Itoa(pid) {
		t.Fatalf("started pid %d, the command says %s", pid, got)
	}
	// The connection runs a second command after the first one ended.
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if _, err := conn.Start(asMe(ExecRequest{Argv: []string{"true"}, Env: []string{testPath}}), r, w, w); err != nil {
		t.Fatal(err)
	}
	if code, err := conn.Wait(); err != nil || code != 0 {
		t.Fatal(code, err)
	}
}

// TestAgentAsPID1 runs the agent as a real PID 1: in a new PID namespace with
// its own /proc (unshare --pid --fork --mount-proc), without the test
// allowance, so the host side is accepted only because it is outside the
// namespace (SO_PEERCRED pid 0).
func TestAgentAsPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creating a PID namespace needs CAP_SYS_ADMIN")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) from util-linux")
	}
	bin := agentBinary(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	f := listenAt(t, sock)
	a := &testAgent{sock: sock, done: make(chan struct{})}
	a.cmd = exec.Command(unshare, "--pid", "--fork", "--mount-proc", "--kill-child", bin)
	a.cmd.Env = []string{testPath}
	a.cmd.ExtraFiles = []*os.File{f}
	a.cmd.Stderr = &a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	go func() {
		a.waitErr = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("agent stderr:\n%s", a.stderr.String())
		}
	})

	res := run(t, a, RunOptions{}, "sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '")
	lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	if res.ExitCode != 0 || len(lines) != 2 || !strings.Contains(lines[1], filepath.Base(bin)) {
		t.Fatalf("got %+v: %q %q", res, res.Stdout, res.Stderr)
	}
	var agentPid int // the agent's pid on the host: unshare's only child
	if !eventually(2*time.Second, func() bool {
		c := childrenOf(a.pid())
		if len(c) == 1 {
			agentPid = c[0]
		}
		return agentPid != 0
	}) {
		t.Fatal("cannot find the agent under unshare")
	}

	res = run(t, a, RunOptions{Timeout: time.Second}, "sh", "-c", "sleep 1031 & setsid sleep 1032 & sleep 1033")
	if !res.TimedOut {
		t.Fatalf("timeout: %+v", res)
	}
	for _, n := range []string{"1031", "1032", "1033"} {
		if left := processesWithArgs("sleep", n); len(left) > 0 {
			killAtCleanup(t, left...)
			t.Errorf("sleep %s survived the timeout in the namespace", n)
		}
	}

	res = run(t, a, RunOptions{}, "sh", "-c", "sleep 0.3 >/dev/null 2>&1 &")
	if res.ExitCode != 0 {
		t.Fatalf("orphan run: %+v", res)
	}
	time.Sleep(800 * time.Millisecond)
	if !eventually(3*time.Second, func() bool {
		for _, c := range childrenOf(agentPid) {
			if st, _, _ := procState(c); st == 'Z' {
				return false
			}
		}
		return true
	}) {
		t.Errorf("zombies left under PID 1: %v", childrenOf(agentPid))
	}

	// A peer inside the namespace is refused.
	if py, err := exec.LookPath("python3"); err == nil {
		script := `import socket,struct,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
b=b'{"type":"hello","version":1}'
try:
    s.sendall(struct.pack(">I",len(b))+b)
    print("answered" if s.recv(100) else "refused")
except OSError: print("refused")`
		res, err := Run(context.Background(), a.sock, asMe(ExecRequest{Argv: []string{py, "-c", script, sock}, Env: []string{testPath}}), RunOptions{})
		if err != nil || strings.TrimSpace(string(res.Stdout)) != "refused" {
			t.Errorf("peer inside the namespace: %+v (%q %q), %v", res, res.Stdout, res.Stderr, err)
		}
	}

	// SIGTERM to PID 1 with a command running: both end, PID 1 with 0.
	conn, _, _ := startCommand(t, a, "sleep", "1034")
	if err := syscall.Kill(agentPid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := conn.Wait(); err != nil || code != 143 {
		t.Errorf("command after SIGTERM to PID 1: %d, %v; want 143", code, err)
	}
	if done, err := a.exited(5 * time.Second); !done || err != nil {
		t.Fatalf("PID 1 after SIGTERM: exited %v, %v", done, err)
	}
}

func TestCommandGetsOnlyItsStdio(t *testing.T) {
	a := startAgent(t)
	// ls itself opens one directory fd (3) to list /proc/self/fd.
	res := run(t, a, RunOptions{}, "ls", "/proc/self/fd")
	if got := strings.Fields(string(res.Stdout)); !slices.Equal(got, []string{"0", "1", "2", "3"}) {
		t.Fatalf("the command's fds: %q, want 0 1 2 (+ ls's own 3)", got)
	}
	// Each command is in its own session, led by itself.
	res = run(t, a, RunOptions{}, "sh", "-c", "echo $$; ps -o sid= -p $$ 2>/dev/null || awk '{print $6}' /proc/$$/stat")
	f := strings.Fields(string(res.Stdout))
	if len(f) != 2 || f[0] != f[1] {
		t.Fatalf("pid and session id: %q", res.Stdout)
	}
}

// BenchmarkRunTrue measures one blocking Run of /bin/true through the real
// agent (dial, handshake, spawner re-exec, exec, exit, drain).
func BenchmarkRunTrue(b *testing.B) {
	bin := agentBinary(b)
	sock := filepath.Join(b.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		b.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	f, _ := ln.File()
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{"POCKETDOCK_INIT_ALLOW_PEER_PID=" + strconv.Itoa(os.Getpid())}
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	req := asMe(ExecRequest{Argv: []string{"true"}, Env: []string{testPath}})
	for b.Loop() {
		res, err := Run(context.Background(), sock, req, RunOptions{})
		if err != nil || res.ExitCode != 0 {
			b.Fatal(res, err)
		}
	}
}
