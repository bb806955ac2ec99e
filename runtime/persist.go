package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// mountPoints returns the container paths of every mount in cfg, in order.
func mountPoints(cfg *configs.Config) []string {
	out := make([]string, 0, len(cfg.Mounts))
	for _, mt := range cfg.Mounts {
		out = append(out, filepath.Clean(mt.Destination))
	}
	return out
}

// Rebooted reports whether the host rebooted since rec's container last
// started: its stored boot ID (/proc/sys/kernel/random/boot_id) differs from
// the current one. Such a container is exited whatever the run directory holds.
func Rebooted(rec *Record) bool {
	return rec.BootID != "" && rec.BootID != bootID()
}

// rebootedNow re-reads rec's record from disk (another process may have
// resumed it since rec was read) and reports Rebooted of that.
func (m *Manager) rebootedNow(rec *Record) bool {
	if !Rebooted(rec) {
		return false
	}
	cur, err := m.paths.readRecord(rec.ID)
	return err != nil || Rebooted(cur)
}

// dropStale forgets libcontainer state left from before a host reboot. It
// never signals: after a reboot a PID in that state may belong to anything.
// Callers hold the container lock.
func (m *Manager) dropStale(id string) error {
	c, err := libcontainer.Load(m.paths.Libcontainer(), id)
	if errors.Is(err, libcontainer.ErrNotExist) {
		return nil
	}
	if err == nil {
		if st, serr := c.Status(); serr == nil && st == libcontainer.Stopped {
			if derr := c.Destroy(); derr == nil {
				removeEmptyCgroupParents()
				return nil
			}
		}
	}
	return os.RemoveAll(filepath.Join(m.paths.Libcontainer(), id))
}

// clearBeforeStart removes what a previous run left (libcontainer state,
// cgroups) so PID 1 can start again; after a reboot without signalling.
func (m *Manager) clearBeforeStart(ctx context.Context, rec *Record) error {
	var err error
	if Rebooted(rec) {
		err = m.dropStale(rec.ID)
	} else {
		err = m.stopLocked(ctx, rec.ID, true, 0)
	}
	if err != nil {
		return err
	}
	return m.removeHalfMadeState(rec.ID)
}

// removeHalfMadeState removes libcontainer's folder of id when it has no
// state.json: a start killed before libcontainer wrote it (Load then reports
// no container, but Create refuses the existing folder).
// Processes of such a start (runc's init, or PID 1 itself) may be left in the
// container's cgroup: they are killed and the cgroups removed.
func (m *Manager) removeHalfMadeState(id string) error {
	dir := filepath.Join(m.paths.Libcontainer(), id)
	if _, err := os.Stat(filepath.Join(dir, "state.json")); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := killCgroup(id); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// cgroupDirs returns the cgroup folders of container id that exist:
// /sys/fs/cgroup/<controller>/pocketdock/<id> on cgroup v1 (and the hybrid
// unified one), /sys/fs/cgroup/pocketdock/<id> on cgroup v2 (the spec's
// linux.cgroupsPath, see buildSpec).
func cgroupDirs(id string) []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent + "/" + id)
	if fi, err := os.Stat("/sys/fs/cgroup/" + cgroupParent + "/" + id); err == nil && fi.IsDir() {
		dirs = append(dirs, "/sys/fs/cgroup/"+cgroupParent+"/"+id)
	}
	return dirs
}

// killCgroup SIGKILLs every process in container id's cgroups (they are that
// container's by the ID-named path), waits until they are gone (up to 10 s)
// and removes the cgroup folders.
func killCgroup(id string) error {
	dirs := cgroupDirs(id)
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := 0
		for _, d := range dirs {
			data, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
					left++
					unix.Kill(pid, unix.SIGKILL)
				}
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s: %d processes survive SIGKILL in its cgroup", id, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Children first: rmdir fails on a cgroup with sub-cgroups.
	for _, d := range dirs {
		subs, _ := filepath.Glob(filepath.Join(d, "*", "cgroup.procs"))
		for _, s := range subs {
			unix.Rmdir(filepath.Dir(s))
		}
		unix.Rmdir(d)
	}
	removeEmptyCgroupParents()
	return nil
}

// lockedRecord takes rec's container lock and re-reads its record. The caller
// must Unlock the returned lock. A record still being created is ErrConflict.
func (m *Manager) lockedRecord(rec *Record) (*Record, *fileLock, error) {
	cl, err := m.containerLock(rec.ID)
	if err != nil {
		return nil, nil, err
	}
	cur, err := m.paths.readRecord(rec.ID)
	if err != nil {
		cl.Unlock()
		return nil, nil, err
	}
	if cur.State == RecordCreating {
		cl.Unlock()
		return nil, nil, fmt.Errorf("%w: %s is still being created (or its create was killed; see doctor)", ErrConflict, cur.Name)
	}
	return cur, cl, nil
}

// startAgain starts PID 1 of cur on rootfs through the same code path as
// create (so every spec input kept in the record — limits, volumes, devices,
// network — is applied again), then stores the record. On failure what was
// started is stopped again. Callers hold the container lock.
func (m *Manager) startAgain(ctx context.Context, cur *Record, rootfs string) error {
	if err := checkMountSources(cur.Mounts); err != nil {
		return err
	}
	cur.Rootfs = rootfs
	if err := m.start(cur, rootfs); err != nil {
		if serr := m.stopLocked(context.WithoutCancel(ctx), cur.ID, true, 0); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	}
	cur.BootID = bootID()
	if err := m.paths.writeRecord(cur); err != nil {
		if serr := m.stopLocked(context.WithoutCancel(ctx), cur.ID, true, 0); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	}
	return nil
}

// Resume starts a stopped container again with its files, volumes and the
// rest of its stored configuration; also after a host reboot (the root
// filesystem is mounted again). A running container is left alone; a paused
// one is thawed. On success *rec is updated. Errors: ErrConflict (a create is
// under way), ErrInvalidArgument (a volume's host path is gone), start errors.
func (m *Manager) Resume(ctx context.Context, rec *Record) error {
	cur, cl, err := m.lockedRecord(rec)
	if err != nil {
		return err
	}
	defer cl.Unlock()
	if !Rebooted(cur) {
		switch st, err := m.Status(cur); {
		case err != nil:
			return err
		case st == StatusRunning:
			*rec = *cur
			return nil
		case st == StatusPaused:
			if err := m.setFrozen(cur.ID, false); err != nil {
				return err
			}
			*rec = *cur
			return nil
		}
	}
	if err := m.clearBeforeStart(ctx, cur); err != nil {
		return err
	}
	store, err := m.Images()
	if err != nil {
		return err
	}
	rootfs, err := store.MountRootfs(cur.ID)
	if err != nil {
		return err
	}
	if err := m.startAgain(ctx, cur, rootfs); err != nil {
		return err
	}
	*rec = *cur
	return nil
}

// Reboot stops the container (SIGTERM, then SIGKILL after grace) and starts
// it again with the same configuration. In place keeps its files; fresh
// replaces its read-write layer with a new one from the image (volumes are
// host folders and stay). A stopped container is simply started. On success
// *rec is updated.
func (m *Manager) Reboot(ctx context.Context, rec *Record, fresh bool, grace time.Duration) error {
	cur, cl, err := m.lockedRecord(rec)
	if err != nil {
		return err
	}
	defer cl.Unlock()
	if Rebooted(cur) {
		err = m.dropStale(cur.ID)
	} else {
		err = m.stopLocked(ctx, cur.ID, false, grace)
	}
	if err == nil {
		err = m.removeHalfMadeState(cur.ID)
	}
	if err != nil {
		return err
	}
	store, err := m.Images()
	if err != nil {
		return err
	}
	var rootfs string
	if fresh {
		if err := store.RemoveRootfs(cur.ID); err != nil {
			return err
		}
		rootfs, err = store.CreateRootfs(cur.ID, cur.ImageID)
	} else {
		rootfs, err = store.MountRootfs(cur.ID)
	}
	if err != nil {
		return err
	}
	if err := m.startAgain(ctx, cur, rootfs); err != nil {
		return err
	}
	*rec = *cur
	return nil
}

// Pause freezes every process of the container (cgroup freezer). Commands are
// refused while it is paused. A paused container is no error;
// ErrContainerNotRunning when it is not running.
func (m *Manager) Pause(rec *Record) error {
	cur, cl, err := m.lockedRecord(rec)
	if err != nil {
		return err
	}
	defer cl.Unlock()
	return m.setFrozen(cur.ID, true)
}

// Unpause thaws a paused container. A running one is no error;
// ErrContainerNotRunning when it is neither.
func (m *Manager) Unpause(rec *Record) error {
	cur, cl, err := m.lockedRecord(rec)
	if err != nil {
		return err
	}
	defer cl.Unlock()
	return m.setFrozen(cur.ID, false)
}

// setFrozen pauses (freeze) or resumes (thaw) container id; the caller holds its lock.
func (m *Manager) setFrozen(id string, freeze bool) error {
	rec, err := m.paths.readRecord(id)
	if err != nil {
		return err
	}
	if Rebooted(rec) {
		return fmt.Errorf("%w: %s is exited (the host rebooted; resume it)", ErrContainerNotRunning, rec.Name)
	}
	c, err := libcontainer.Load(m.paths.Libcontainer(), id)
	if errors.Is(err, libcontainer.ErrNotExist) {
		return fmt.Errorf("%w: %s is exited", ErrContainerNotRunning, rec.Name)
	}
	if err != nil {
		return err
	}
	st, err := c.Status()
	if err != nil {
		return err
	}
	switch {
	case st == libcontainer.Running && freeze:
		return c.Pause()
	case st == libcontainer.Paused && !freeze:
		return c.Resume()
	case st == libcontainer.Running || st == libcontainer.Paused:
		return nil
	}
	return fmt.Errorf("%w: %s is %s", ErrContainerNotRunning, rec.Name, st)
}

// WithFrozen runs fn under the container's lock with every process of the
// container frozen (a running container is paused and thawed after fn; a
// paused or stopped one is left as it is). It returns rec's current record
// to fn.
func (m *Manager) WithFrozen(rec *Record, fn func(cur *Record) error) error {
	cur, cl, err := m.lockedRecord(rec)
	if err != nil {
		return err
	}
	defer cl.Unlock()
	if !Rebooted(cur) {
		c, err := libcontainer.Load(m.paths.Libcontainer(), cur.ID)
		if err == nil {
			if st, err := c.Status(); err == nil && st == libcontainer.Running {
				if err := c.Pause(); err != nil {
					return fmt.Errorf("freeze %s: %w", cur.Name, err)
				}
				defer func() {
					if err := c.Resume(); err != nil {
						slog.Warn("thaw after freeze", "container", cur.ID, "error", err)
					}
				}()
			}
		}
	}
	return fn(cur)
}

// Prune removes every exited container of project ("" = every project),
// with its files, and returns how many it removed. Containers being created
// are left to doctor.
func (m *Manager) Prune(ctx context.Context, project string) (int, error) {
	recs, err := m.List()
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, r := range recs {
		if (project != "" && r.Project != project) || r.State == RecordCreating {
			continue
		}
		removed, err := m.removeIfExited(ctx, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("prune %s: %w", r.Name, err))
		}
		if removed {
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (m *Manager) removeIfExited(ctx context.Context, rec *Record) (bool, error) {
	cur, cl, err := m.lockedRecord(rec)
	if errors.Is(err, ErrContainerNotFound) || errors.Is(err, ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer cl.Unlock()
	st, err := m.Status(cur)
	if err != nil || st != StatusExited {
		return false, err
	}
	if Rebooted(cur) {
		if err := m.dropStale(cur.ID); err != nil {
			return false, err
		}
	}
	if err := m.teardown(ctx, cur.ID, true, true); err != nil {
		return false, err
	}
	return true, nil
}
