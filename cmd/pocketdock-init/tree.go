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
	ppid    int
	session int
	state   byte
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
	// state ppid pgrp session ...
	f := strings.Fields(s[i+1:])
	if len(f) < 4 || len(f[0]) != 1 {
		return procEntry{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	session, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil {
		return procEntry{}, false
	}
	return procEntry{ppid: ppid, session: session, state: f[0][0]}, true
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

// signalTree sends sig to every live descendant of root and returns how
// many there were. It stops the whole tree first (SIGSTOP, walking again
// until a walk finds nobody new), so while it signals nobody forks, exits or
// reparents away: otherwise a child whose parent died of the signal first
// could leave the tree (when root has exited meanwhile) and be missed, and a
// fork bomb could outrun the walk. Then sig goes to every member and SIGCONT
// lets them act on it.
func signalTree(root int, sig syscall.Signal) int {
	members := map[int]*member{}
	defer func() {
		for _, m := range members {
			m.close()
		}
	}()
	for {
		live, all := liveDescendants(root)
		found := false
		for _, pid := range live {
			if _, ok := members[pid]; ok {
				continue
			}
			inTree := func(ppid int) bool { return ppid == root || all[ppid] || members[ppid] != nil }
			m, ok := openMember(pid, inTree)
			if !ok {
				continue
			}
			members[pid] = m
			found = true
			m.signal(syscall.SIGSTOP)
		}
		if !found {
			break
		}
	}
	for _, m := range members {
		m.signal(sig)
	}
	switch sig {
	case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
		// Dead, or meant to stay stopped.
	default:
		for _, m := range members {
			m.signal(syscall.SIGCONT)
		}
	}
	return len(members)
}

// killTree sends SIGKILL to every live descendant of root, again and again,
// until none is left (those that lose their parent reparent to root, a
// subreaper, and stay in the tree).
func killTree(root int) {
	delay := time.Millisecond
	for signalTree(root, syscall.SIGKILL) > 0 {
		time.Sleep(delay)
		if delay < 20*time.Millisecond {
			delay *= 2
		}
	}
}

// member is one process of a tree being signalled, held by a pidfd so a pid
// reused after it exits is never signalled (fd -1: plain kill, where pidfds
// are unsupported).
type member struct {
	pid, fd int
}

// openMember opens pid if it is (still) in the tree: its parent passes inTree.
func openMember(pid int, inTree func(ppid int) bool) (*member, bool) {
	if pidfdUnsupported.Load() {
		e, ok := readStat(pid)
		if !ok || !inTree(e.ppid) {
			return nil, false
		}
		return &member{pid: pid, fd: -1}, true
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, false
		}
		// ENOSYS (old kernel) or EPERM (a seccomp profile without pidfd).
		pidfdUnsupported.Store(true)
		return openMember(pid, inTree)
	}
	e, ok := readStat(pid)
	if !ok || !inTree(e.ppid) {
		unix.Close(fd)
		return nil, false
	}
	return &member{pid: pid, fd: fd}, true
}

func (m *member) signal(sig syscall.Signal) {
	if m.fd < 0 {
		syscall.Kill(m.pid, sig)
		return
	}
	if err := unix.PidfdSendSignal(m.fd, sig, nil, 0); errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		pidfdUnsupported.Store(true)
		syscall.Kill(m.pid, sig)
	}
}

func (m *member) close() {
	if m.fd >= 0 {
		unix.Close(m.fd)
	}
}

// pidfdUnsupported is set once pidfd_open or pidfd_send_signal fails for a
// reason other than a vanished process (kernels < 5.3, seccomp profiles).
var pidfdUnsupported atomic.Bool

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

// killSession SIGKILLs every process whose session ID is sid, stopping each
// pass's finds first so none forks meanwhile, until a pass finds none (at
// most a minute). It backs up a tree kill whose spawner died: a command's
// processes keep its session unless they call setsid themselves.
//
// Only as PID 1: then /proc shows the container's processes alone; an agent
// run as an ordinary process (tests) must never sweep the host's.
func killSession(sid int) {
	self := os.Getpid()
	if self != 1 {
		return
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var found []int
		d, err := os.Open("/proc")
		if err != nil {
			return
		}
		names, _ := d.Readdirnames(-1)
		d.Close()
		for _, n := range names {
			pid, err := strconv.Atoi(n)
			if err != nil || pid == self || pid == 1 {
				continue
			}
			if e, ok := readStat(pid); ok && e.session == sid && e.state != 'Z' && e.state != 'X' {
				found = append(found, pid)
			}
		}
		if len(found) == 0 {
			return
		}
		for _, pid := range found {
			syscall.Kill(pid, syscall.SIGSTOP)
		}
		for _, pid := range found {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
