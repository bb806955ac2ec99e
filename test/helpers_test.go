package test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock"
	"github.com/pocketdock/pocketdock/image"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// newContainer creates a container in the test root and removes it when the test ends.
func newContainer(t *testing.T, opts pocketdock.Options) *pocketdock.Container {
	t.Helper()
	needRoot(t)
	opts.Root = stateRoot
	if opts.Pull == "" {
		opts.Pull = "never"
	}
	c, err := pocketdock.CreateNewContainer(context.Background(), opts)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	ownIDs.add(c.ID())
	t.Cleanup(func() {
		if err := c.Destroy(context.Background()); err != nil && !errors.Is(err, pocketdock.ErrContainerNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	})
	return c
}

// hostState lists every object of the test root that a container can leave
// behind: records, run directories, libcontainer state, storage containers,
// the root's cgroups below /pocketdock (ownCgroups: those of containers ever
// made in this root, not other state roots'), mounts below the root and the
// root's network objects. Two equal snapshots mean nothing was made or left.
func hostState(t *testing.T) []string {
	t.Helper()
	var out []string
	add := func(kind string, names ...string) {
		for _, n := range names {
			out = append(out, kind+" "+n)
		}
	}
	ls := func(dir string) []string {
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				names = append(names, e.Name())
			}
		}
		return names
	}
	p, err := pdrt.ResolvePaths(stateRoot)
	if err != nil {
		t.Fatal(err)
	}
	add("record", ls(p.Containers())...)
	add("rundir", ls(filepath.Join(p.Run, "c"))...)
	add("libcontainer", ls(p.Libcontainer())...)
	m, err := pdrt.Open(stateRoot)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Images()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := s.Storage().Containers()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		add("storage-container", c.ID)
	}
	add("cgroup", ownCgroups()...)
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && strings.HasPrefix(f[4], stateRoot+"/") && !strings.HasSuffix(f[4], "/overlay") {
				add("mount", f[4])
			}
		}
	}
	add("net", rootNetObjects(t, stateRoot)...)
	sort.Strings(out)
	return out
}

// leftOf returns the objects in hostState that name container id.
func leftOf(t *testing.T, id string) []string {
	ownIDs.add(id)
	var out []string
	for _, s := range hostState(t) {
		if strings.Contains(s, id) {
			out = append(out, s)
		}
	}
	return out
}

// diffState returns the entries of after missing from before.
func diffState(before, after []string) []string {
	seen := map[string]bool{}
	for _, s := range before {
		seen[s] = true
	}
	var added []string
	for _, s := range after {
		if !seen[s] {
			added = append(added, s)
		}
	}
	return added
}

// cgroupProcs returns the host PIDs in container id's cgroup (pids controller).
func cgroupProcs(t *testing.T, id string) []int {
	t.Helper()
	for _, f := range []string{
		"/sys/fs/cgroup/pids/pocketdock/" + id + "/cgroup.procs",
		"/sys/fs/cgroup/pocketdock/" + id + "/cgroup.procs",
	} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var pids []int
		for _, l := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(l); err == nil {
				pids = append(pids, n)
			}
		}
		return pids
	}
	t.Fatalf("no cgroup.procs for %s", id)
	return nil
}

// procStat returns the command name and state letter of host pid.
func procStat(pid int) (comm string, state byte, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	s := string(data)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < 0 || close+2 >= len(s) {
		return "", 0, false
	}
	return s[open+1 : close], s[close+2], true
}

// testImages opens the test root's image store; it is closed when the test
// ends.
func testImages(t *testing.T) *image.Store {
	t.Helper()
	m, err := pdrt.Open(stateRoot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s, err := m.Images()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newPty opens a pty pair of 40 rows and 100 columns for a CLI run as a
// user at a terminal would; the test skips when the host has no ptys. The
// caller closes the master, and the slave once the child has it.
func newPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	master = os.NewFile(uintptr(mfd), "ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Fatal(err)
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), uintptr(unix.TIOCGPTPEER), uintptr(unix.O_RDWR|unix.O_NOCTTY))
	if errno != 0 {
		master.Close()
		t.Fatal(errno)
	}
	slave = os.NewFile(sfd, "pts")
	if err := unix.IoctlSetWinsize(int(sfd), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		master.Close()
		slave.Close()
		t.Fatal(err)
	}
	return master, slave
}

// startOnPty starts the CLI (on the test root) with args in a new session
// whose controlling terminal is a new pty (newPty), and returns the pty's
// master, the command and the channel its Wait result arrives on. The
// caller closes the master.
func startOnPty(t *testing.T, args ...string) (*os.File, *exec.Cmd, <-chan error) {
	t.Helper()
	master, slave := newPty(t)
	cmd := exec.Command(cliBin, append([]string{"--root", stateRoot}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err := cmd.Start()
	slave.Close()
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return master, cmd, done
}

// termIgnoringContainer creates a busybox container (removed when the test
// ends) running a detached job that ignores SIGTERM, so stopping it takes
// the whole grace period unless SIGKILL comes earlier.
func termIgnoringContainer(t *testing.T) *pocketdock.Container {
	t.Helper()
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	if out, errs, code := cli(t, "run", "-d", c.Name(), "--", "trap '' TERM; sleep 1000"); code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("run -d: %d %q %q", code, out, errs)
	}
	if !eventually(10*time.Second, func() bool {
		js, err := c.Jobs(context.Background())
		return err == nil && len(js) == 1 && js[0].Running
	}) {
		t.Fatal("the SIGTERM-ignoring job is not running")
	}
	return c
}

// startCLI starts the CLI on the test root in the background and returns
// it, its stderr and the channel its Wait result arrives on; it is killed
// at the test's end if it has not been waited for through done by then.
func startCLI(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, <-chan error) {
	t.Helper()
	cmd := exec.Command(cliBin, append([]string{"--root", stateRoot}, args...)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() { done <- cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	return cmd, &errb, done
}
