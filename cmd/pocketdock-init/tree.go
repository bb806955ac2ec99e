package main

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procEntry is what the tree walk needs from /proc/<pid>/stat.
type procEntry struct {
	ppid  int
	state byte
}

// parseStat extracts the state and the parent pid from the contents of
// /proc/<pid>/stat ("pid (comm) S ppid ..."; comm may hold spaces and
// parentheses, so the last ')' ends it).
func parseStat(b []byte) (procEntry, bool) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return procEntry{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return procEntry{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procEntry{}, false
	}
	return procEntry{ppid: ppid, state: f[0][0]}, true
}

func readStat(pid int) (procEntry, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procEntry{}, false
	}
	return parseStat(b)
}

// liveDescendants returns the pids of every descendant of root that is not
// a zombie, with the set of all descendants (zombies included).
func liveDescendants(root int) (live []int, all map[int]bool) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	children := make(map[int][]int)
	states := make(map[int]byte)
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		e, ok := readStat(pid)
		if !ok {
			continue
		}
		children[e.ppid] = append(children[e.ppid], pid)
		states[pid] = e.state
	}
	all = make(map[int]bool)
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if c == root || all[c] {
				continue
			}
			all[c] = true
			queue = append(queue, c)
			if s := states[c]; s != 'Z' && s != 'X' && s != 'x' {
				live = append(live, c)
			}
		}
	}
	return live, all
}

// signalTree sends sig once to every live descendant of root and returns how
// many there were.
func signalTree(root int, sig syscall.Signal) int {
	live, all := liveDescendants(root)
	for _, pid := range live {
		signalOne(pid, sig, root, all)
	}
	return len(live)
}

// killTree sends SIGKILL to every live descendant of root, again and again,
// until none is left (processes may fork while the walk runs; those that
// lose their parent reparent to root, a subreaper, and stay in the tree).
func killTree(root int) {
	delay := time.Millisecond
	for signalTree(root, syscall.SIGKILL) > 0 {
		time.Sleep(delay)
		if delay < 20*time.Millisecond {
			delay *= 2
		}
	}
}

// pidfdUnsupported is set once pidfd_open or pidfd_send_signal fails for a
// reason other than a vanished process (kernels < 5.3, seccomp profiles).
var pidfdUnsupported atomic.Bool

// signalOne signals pid, which the walk found under root. Through a pidfd
// it first checks that the process is still in the tree (its parent is root
// or a descendant), so a pid reused meanwhile is never signalled.
func signalOne(pid int, sig syscall.Signal, root int, tree map[int]bool) {
	if pidfdUnsupported.Load() {
		syscall.Kill(pid, sig)
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if !errors.Is(err, unix.ESRCH) {
			// ENOSYS (old kernel) or EPERM (a seccomp profile without
			// pidfd): plain kill from now on.
			pidfdUnsupported.Store(true)
			syscall.Kill(pid, sig)
		}
		return
	}
	defer unix.Close(fd)
	e, ok := readStat(pid)
	if !ok || (e.ppid != root && !tree[e.ppid]) {
		return
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		pidfdUnsupported.Store(true)
		syscall.Kill(pid, sig)
	}
}

// cloexecFrom marks every descriptor >= first close-on-exec, so nothing the
// process inherited beyond what it uses leaks into the commands.
func cloexecFrom(first int) {
	if err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return
	}
	// Kernels before 5.11: walk /proc/self/fd.
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd >= first {
			unix.CloseOnExec(fd)
		}
	}
}
