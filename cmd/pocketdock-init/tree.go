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
	return readStatIn("/proc", pid)
}

// readStatIn reads /proc/<pid>/stat under procDir (a procfs mount, or a
// folder laid out like one in tests).
func readStatIn(procDir string, pid int) (procEntry, bool) {
	b, err := os.ReadFile(procDir + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procEntry{}, false
	}
	return parseStat(b)
}

// scanProc reads the stat of every process under procDir, by pid; entries
// that vanish or do not parse are left out.
func scanProc(procDir string) map[int]procEntry {
	d, err := os.Open(procDir)
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	procs := make(map[int]procEntry, len(names))
	for _, n := range names {
		if n == "" || n[0] < '1' || n[0] > '9' {
			continue
		}
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if e, ok := readStatIn(procDir, pid); ok {
			procs[pid] = e
		}
	}
	return procs
}

// alive reports a process that has not exited (zombies have).
func (e procEntry) alive() bool {
	return e.state != 'Z' && e.state != 'X' && e.state != 'x'
}

// descendants returns, from a scan, the live descendants of root that are
// selected, and every descendant of root (zombies included: their children
// are in the tree too) mapped to whether it is selected. With match nil all
// are; else those that match and, below them, their descendants (a child
// that left the session with setsid is still the command's).
func descendants(procs map[int]procEntry, root int, match func(procEntry) bool) (live []int, all map[int]bool) {
	children := make(map[int][]int)
	for pid, e := range procs {
		children[e.ppid] = append(children[e.ppid], pid)
	}
	all = make(map[int]bool)
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if c == root {
				continue
			}
			if _, seen := all[c]; seen {
				continue
			}
			e := procs[c]
			sel := match == nil || match(e) || all[p]
			all[c] = sel
			queue = append(queue, c)
			if sel && e.alive() {
				live = append(live, c)
			}
		}
	}
	return live, all
}

// inSession matches the processes of session sid.
func inSession(sid int) func(procEntry) bool {
	return func(e procEntry) bool { return e.session == sid }
}

// signalTree sends sig to every live descendant of root that is selected
// (see descendants; match nil: all) and returns how many there were. It
// stops them all first (SIGSTOP, walking again until a walk finds nobody
// new), so while it signals nobody forks, exits or reparents away:
// otherwise a child whose parent died of the signal first could leave the
// tree (when root has exited meanwhile) and be missed, and a fork bomb could
// outrun the walk. Then sig goes to every member and SIGCONT lets them act
// on it.
func signalTree(root int, match func(procEntry) bool, sig syscall.Signal) int {
	members := map[int]*member{}
	defer func() {
		for _, m := range members {
			m.close()
		}
	}()
	for {
		live, all := descendants(scanProc("/proc"), root, match)
		found := false
		for _, pid := range live {
			if _, ok := members[pid]; ok {
				continue
			}
			// Still below root and selected (by its parent, maybe).
			want := func(e procEntry) bool {
				_, inTree := all[e.ppid]
				return (e.ppid == root || inTree || members[e.ppid] != nil) &&
					(match == nil || match(e) || all[e.ppid] || members[e.ppid] != nil)
			}
			m, ok := openMember(pid, want)
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

// killTree sends SIGKILL to every live descendant of root that is selected
// (see descendants; match nil: all), again and again, until none is left (those that lose their parent
// reparent to root, a subreaper or PID 1, and stay in the tree).
func killTree(root int, match func(procEntry) bool) {
	delay := time.Millisecond
	for signalTree(root, match, syscall.SIGKILL) > 0 {
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

// openMember opens pid if it is (still) one to signal: its stat, read once
// the pidfd holds the process, passes want.
func openMember(pid int, want func(procEntry) bool) (*member, bool) {
	if pidfdUnsupported.Load() {
		e, ok := readStat(pid)
		if !ok || !want(e) {
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
		return openMember(pid, want)
	}
	e, ok := readStat(pid)
	if !ok || !want(e) {
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

// killSession SIGKILLs every process of session sid below this process
// (the agent), and their descendants, with killTree, until none is left.
// It finishes a tree kill whose spawner is gone: the command's processes
// then hang below PID 1 (or below the agent as a child subreaper, outside a
// container) and keep the command's session ID unless they called setsid;
// one that did is still found below a process of the session, unless it
// was orphaned too.
func killSession(sid int) {
	killTree(os.Getpid(), inSession(sid))
}

// sessionLeaderAlive reports whether pid runs (not a zombie) as the leader
// of its own session: a command's main process, started with setsid, until
// it exits (a pid reused meanwhile would have to call setsid too).
func sessionLeaderAlive(pid int) bool {
	e, ok := readStat(pid)
	return ok && e.alive() && e.session == pid
}
