package main

import (
	"os"
	"runtime"
	"strconv"
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
	// agentThreads is how many threads PID 1 keeps for goroutines.
	agentThreads = 8
	// spawnerThreads is how many threads a spawner keeps for goroutines.
	spawnerThreads = 5
)

// reserveThreads makes the runtime hold at least n threads that run
// goroutines (besides its monitor thread), starting those missing now; all
// but the caller's then idle. Each of n goroutines locks itself to a thread
// and parks until all have, which takes n distinct threads; then all unlock
// and end, and their threads go to the runtime's idle list, where they stay.
func reserveThreads(n int) {
	var locked, release, done sync.WaitGroup
	locked.Add(n)
	release.Add(1)
	done.Add(n)
	for range n {
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
