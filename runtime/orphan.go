package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// removeOrphanState removes what a container whose libcontainer state cannot
// be loaded still holds: a create killed (kill -9, power cut of the CLI)
// after libcontainer made its state folder and the cgroups but before it
// wrote state.json leaves exactly that, and libcontainer.Load then reports
// ErrNotExist, so Destroy can never run. It SIGKILLs every process left in
// the container's cgroups (/pocketdock/<id>, named by our own 64-hex ID, so
// no other container's are touched), removes those cgroups and the state
// folder. Absence of any of it is no error.
func (m *Manager) removeOrphanState(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("%w: container ID %q", ErrInvalidArgument, id)
	}
	var errs []error
	dirs := cgroupDirs(id)
	if err := killCgroupProcs(dirs, 10*time.Second); err != nil {
		errs = append(errs, err)
	}
	for _, d := range dirs {
		if err := removeCgroupTree(d, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if len(dirs) > 0 {
		removeEmptyCgroupParents()
	}
	if err := os.RemoveAll(filepath.Join(m.paths.Libcontainer(), id)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cgroupPids returns the PIDs in dir/cgroup.procs (none when it is gone).
func cgroupPids(dir string) []int {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil && n > 0 {
			pids = append(pids, n)
		}
	}
	return pids
}

// killCgroupProcs SIGKILLs every process in the cgroups dirs (cgroup.kill
// where the kernel has it, else each PID of cgroup.procs, repeated so that
// children forked meanwhile go too) until they are empty or d has passed.
func killCgroupProcs(dirs []string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		left := 0
		for _, dir := range dirs {
			pids := cgroupPids(dir)
			left += len(pids)
			if len(pids) == 0 {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err == nil {
				continue
			}
			for _, pid := range pids {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes still in cgroups %v after SIGKILL", dirs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// removeCgroupTree removes the cgroup folder dir and any below it, deepest
// first, retrying while the kernel still reports them busy (exiting tasks).
func removeCgroupTree(dir string, d time.Duration) error {
	var tree []string
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			tree = append(tree, p)
		}
		return nil
	})
	deadline := time.Now().Add(d)
	for i := len(tree) - 1; i >= 0; i-- {
		for {
			err := unix.Rmdir(tree[i])
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				return fmt.Errorf("remove cgroup %s: %w", tree[i], err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// lockExisting takes the lock of container id for Stop and Remove and checks
// that its record still exists: another process may have removed the
// container meanwhile (the lock file lives in the record folder, so taking
// the lock made that folder again). Then the folder is removed again and the
// error wraps ErrContainerGone.
func (m *Manager) lockExisting(id string) (*fileLock, error) {
	cl, err := m.containerLock(id)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(m.paths.recordFile(id)); errors.Is(err, os.ErrNotExist) {
		dir := m.paths.RecordDir(id)
		os.Remove(filepath.Join(dir, ".lock"))
		unix.Rmdir(dir) // only if empty: never a record made meanwhile
		cl.Unlock()
		return nil, fmt.Errorf("%w: %s was removed", ErrContainerGone, id)
	}
	return cl, nil
}
