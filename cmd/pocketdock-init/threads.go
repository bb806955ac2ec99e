package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Thread reserves. The Go runtime starts an OS thread whenever it needs one
// and none is idle (typically: a goroutine is blocked in a syscall such as a
// /proc read and another goroutine becomes runnable), and a failed thread
// start is fatal ("runtime: failed to create new OS thread"). Threads count
// against the container's pids limit, so when a fork bomb fills it, any Go
// process of ours that needs one more thread dies: the spawner in the middle
// of its tree kill (its tree then escapes the kill), or PID 1 (and with it
// the container). The runtime never ends an idle thread, so starting a few
// spare ones while the limit still has room keeps both working at a full
// limit: what they do during a kill (one goroutine in a syscall at a time,
// GOMAXPROCS 1) never needs more threads than they then have.
const (
	// agentThreads is how many threads PID 1 has at least (an idle agent
	// needs about 5; the rest are spare). Each costs about 15 KiB of PSS;
	// 8 was tried (make vm-test VM_RUN=ForkBomb, cgroup v2): PID 1 died in
	// TestDetachedForkBombIsKilled in 2 of 8 runs, so 10 it stays.
	agentThreads = 10
	// spawnerThreads is how many threads a spawner has at least (about 5
	// to start; the rest are spare).
	spawnerThreads = 7
)

// reserveThreadsWithin is reserveThreads(n), lowered when the container's
// pids limit is small: the threads to start take at most a quarter of the
// room it leaves, so a small limit still admits the spawners and commands
// (and PID 1 does not die of its own reserve).
func reserveThreadsWithin(n int) {
	reserveThreads(threadsWithin(n, threadCount(), pidsRoom("/sys/fs/cgroup")))
}

// threadsWithin returns want, or have plus a quarter of room when that is
// less (room < 0: no limit).
func threadsWithin(want, have, room int) int {
	if room < 0 || want <= have+room/4 {
		return want
	}
	return have + room/4
}

// pidsRoom returns how many more tasks (processes and threads) the pids
// limit admits, from pids.max and pids.current under cgroupDir (cgroup v2)
// or cgroupDir/pids (v1). In a container, /sys/fs/cgroup shows its own
// cgroup (cgroup namespace). -1: no limit there, or unreadable.
func pidsRoom(cgroupDir string) int {
	for _, d := range []string{cgroupDir, cgroupDir + "/pids"} {
		b, err := os.ReadFile(d + "/pids.max")
		if err != nil {
			continue
		}
		max, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil { // "max"
			return -1
		}
		b, err = os.ReadFile(d + "/pids.current")
		if err != nil {
			return -1
		}
		cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return -1
		}
		if max < cur {
			return 0
		}
		return max - cur
	}
	return -1
}

// reserveThreads makes the process have at least n threads (threadCount),
// starting those missing now; all but the caller's then idle. See
// lockThreads for how; the runtime's monitor thread counts too.
func reserveThreads(n int) {
	for k := 1; k <= n; k++ {
		if have := threadCount(); have == 0 || have >= n {
			return
		}
		lockThreads(k)
	}
}

// lockThreads makes the runtime hold at least k threads that run
// goroutines: each of k goroutines locks itself to a thread and parks until
// all have, which takes k distinct threads; then all unlock and end, and
// their threads go to the runtime's idle list, where they stay.
func lockThreads(k int) {
	var locked, release, done sync.WaitGroup
	locked.Add(k)
	release.Add(1)
	done.Add(k)
	for range k {
		go func() {
			runtime.LockOSThread()
			locked.Done()
			release.Wait()
			runtime.UnlockOSThread()
			done.Done()
		}()
	}
	locked.Wait()
	release.Done()
	done.Wait()
}

// threadCount returns the number of threads of this process (0 when
// /proc/self/task cannot be read).
func threadCount() int {
	d, err := os.Open("/proc/self/task")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	n := 0
	for _, name := range names {
		if _, err := strconv.Atoi(name); err == nil {
			n++
		}
	}
	return n
}
