package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeProc lays out a /proc-like folder: pid -> stat line.
func fakeProc(t *testing.T, stats map[int]string) string {
	t.Helper()
	dir := t.TempDir()
	for pid, line := range stats {
		d := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"self", "sys", "0notapid"} {
		os.Mkdir(filepath.Join(dir, name), 0o755)
	}
	return dir
}

func TestScanProcAndDescendants(t *testing.T) {
	// 1 agent; 10 a spawner (session 1) whose command 11 leads session 11;
	// 12, 13 its children, 13 a zombie whose child 14 lives on; 20 a
	// process of session 11 reparented to 1 (its spawner died), 21 its
	// child that left with setsid, 22 that one's zombie child's child; 30
	// another command's session, 31 its child; 40 a broken stat.
	dir := fakeProc(t, map[int]string{
		1:  "1 (pocketdock-init) S 0 1 1 0",
		10: "10 (pocketdock-init) S 1 1 1 0",
		11: "11 (sh) S 10 11 11 0",
		12: "12 (python3 (x)) R 11 11 11 0",
		13: "13 (sh) Z 11 11 11 0",
		14: "14 (sleep) S 13 11 11 0",
		20: "20 (python3) T 1 11 11 0",
		21: "21 (sleep) S 20 21 21 0",
		22: "22 (sh) Z 21 21 21 0",
		23: "23 (sleep) S 22 21 21 0",
		30: "30 (sleep) S 1 30 30 0",
		31: "31 (sleep) S 30 30 30 0",
		40: "40 (broken",
	})
	procs := scanProc(dir)
	if len(procs) != 12 || procs[12].ppid != 11 || procs[13].state != 'Z' {
		t.Fatalf("scanProc: %+v", procs)
	}
	if _, ok := procs[40]; ok {
		t.Fatalf("scanProc kept a broken stat: %+v", procs[40])
	}
	sorted := func(p []int) []int { slices.Sort(p); return p }

	live, all := descendants(procs, 10, nil)
	if got := sorted(live); !slices.Equal(got, []int{11, 12, 14}) {
		t.Errorf("live descendants of the spawner: %v", got)
	}
	if _, ok := all[13]; !ok || !all[13] {
		t.Errorf("the zombie 13 is not in the spawner's tree: %v", all)
	}
	if _, ok := all[20]; ok {
		t.Errorf("20 is not below the spawner: %v", all)
	}
	if _, ok := all[10]; ok {
		t.Errorf("the root is in its own tree: %v", all)
	}
	// The session sweep from the agent finds the reparented one too, and
	// nothing of the other session, nor the spawner, nor the agent itself.
	live, _ = descendants(procs, 1, inSession(11))
	if got := sorted(live); !slices.Equal(got, []int{11, 12, 14, 20, 21, 23}) {
		t.Errorf("session 11 below the agent: %v", got)
	}
	if _, all = descendants(procs, 1, inSession(11)); all[31] || all[10] || !all[22] {
		t.Errorf("selection below the agent: %v", all)
	}
	if live, _ = descendants(procs, 30, inSession(11)); len(live) != 0 {
		t.Errorf("session 11 below 30: %v", live)
	}
	if !sessionLeaderAlive(os.Getpid()) && os.Getpid() == unixGetsid() {
		t.Errorf("sessionLeaderAlive(self) = false for a session leader")
	}
}

func unixGetsid() int {
	sid, _ := unix.Getsid(0)
	return sid
}

// TestKillSessionCatchesOrphans: a command whose processes keep forking and
// whose children are orphaned on the way (reparented to this process, a
// child subreaper, as they are to PID 1 in a container) — the case of a
// command whose spawner died. killSession leaves none of its session
// alive, and nothing else is touched.
func TestKillSessionCatchesOrphans(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a child subreaper: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })

	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	// sleep 61 leaves the session (setsid) but stays below a member of it.
	cmd := exec.Command("sh", "-c", "setsid sleep 61 & while :; do (sleep 60 &); sleep 0.01; done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sid := cmd.Process.Pid
	t.Cleanup(func() {
		for _, pid := range sessionMembers(sid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		other.Process.Kill()
		other.Wait()
		cmd.Process.Kill()
		cmd.Wait()
		// The orphans became our children: reap them.
		for {
			pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	})
	// Wait for a few orphans of the session below us.
	deadline := time.Now().Add(20 * time.Second)
	for {
		orphans := 0
		for pid, e := range scanProc("/proc") {
			if e.session == sid && e.ppid == os.Getpid() && pid != sid && e.alive() {
				orphans++
			}
		}
		if orphans >= 3 && setsidChild(sid) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d orphans of session %d after 20 s", orphans, sid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	escaped := setsidChild(sid)
	t.Cleanup(func() { syscall.Kill(escaped, syscall.SIGKILL) })
	killSession(sid)
	if left := sessionMembers(sid); len(left) > 0 {
		t.Fatalf("alive in session %d after killSession: %v", sid, left)
	}
	// It got its SIGKILL with the others, but its parent may die first,
	// which moves it out of the session's tree before it is gone.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e, ok := readStat(escaped)
		if !ok || !e.alive() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the setsid child %d of session %d survived: %+v", escaped, sid, e)
		}
	}
	if e, ok := readStat(other.Process.Pid); !ok || !e.alive() {
		t.Fatalf("a process of another session was touched: %+v %v", e, ok)
	}
}

// sessionMembers lists the live processes of session sid.
func sessionMembers(sid int) []int {
	var pids []int
	for pid, e := range scanProc("/proc") {
		if e.session == sid && e.alive() {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestReserveThreads(t *testing.T) {
	before := threadCount()
	if before == 0 {
		t.Skip("cannot read /proc/self/task")
	}
	// More than there are: new ones start, and they stay (idle).
	n := before + 4
	reserveThreads(n)
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	after := threadCount()
	if after < n {
		t.Fatalf("%d threads before reserveThreads(%d), %d after", before, n, after)
	}
	// Not many more than asked for (the runtime may add its template
	// thread), and none when there are enough.
	if after > n+2 {
		t.Errorf("reserveThreads(%d) left %d threads", n, after)
	}
	reserveThreads(after - 1)
	if again := threadCount(); again != after {
		t.Errorf("reserveThreads(%d) with %d threads changed them to %d", after-1, after, again)
	}
}

// setsidChild returns the live child of process sid that runs in a session
// of its own (0: none yet).
func setsidChild(sid int) int {
	for pid, e := range scanProc("/proc") {
		if e.ppid == sid && e.session == pid && e.alive() {
			return pid
		}
	}
	return 0
}

func TestPidsRoomAndThreadsWithin(t *testing.T) {
	write := func(dir, name, v string) {
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v2 := t.TempDir()
	write(v2, "pids.max", "64\n")
	write(v2, "pids.current", "14\n")
	v1 := t.TempDir()
	write(filepath.Join(v1, "pids"), "pids.max", "20\n")
	write(filepath.Join(v1, "pids"), "pids.current", "25\n")
	unlimited := t.TempDir()
	write(unlimited, "pids.max", "max\n")
	write(unlimited, "pids.current", "3\n")
	for dir, want := range map[string]int{v2: 50, v1: 0, unlimited: -1, t.TempDir(): -1} {
		if got := pidsRoom(dir); got != want {
			t.Errorf("pidsRoom(%s) = %d, want %d", dir, got, want)
		}
	}
	for _, tc := range []struct{ want, have, room, out int }{
		{8, 5, -1, 8},  // no limit
		{8, 5, 50, 8},  // room enough
		{8, 5, 8, 7},   // a quarter of 8 more
		{8, 5, 0, 5},   // none more
		{8, 10, 40, 8}, // already more than wanted
		{8, 10, 2, 8},  // nothing to start either way
	} {
		if got := threadsWithin(tc.want, tc.have, tc.room); got != tc.out {
			t.Errorf("threadsWithin(%d, %d, %d) = %d, want %d", tc.want, tc.have, tc.room, got, tc.out)
		}
	}
}
