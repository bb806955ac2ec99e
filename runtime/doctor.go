package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock/netns"
)

// DoctorReport is what Doctor found (and, with fix, removed) in one state root.
type DoctorReport struct {
	// Orphans names each leaked object: half-made containers whose create was
	// killed, links, nftables rules, addresses and network namespaces whose
	// container is gone or stopped.
	Orphans []string
	// Fixed names what fix removed.
	Fixed []string
	// Healthy counts containers with nothing wrong.
	Healthy int
	// StaleInstances are instance directories of the checked project
	// whose container is gone from this state root (the root package
	// fills them; also listed in Orphans).
	StaleInstances []string
	// OrphanedContainers name containers whose record says they belong
	// to a project but whose instance directory is gone (the root package
	// fills them; also listed in Orphans).
	OrphanedContainers []string
	// ProjectHealthy counts the checked project's containers whose
	// instance directory is in place.
	ProjectHealthy int
}

// Doctor looks for what this state root leaked: containers whose create was
// killed half-way (a "creating" record nobody holds the lock of), and
// network objects (links, rules, addresses, namespaces) tagged with this
// root whose container is gone or not running. With fix it removes them.
// Objects of other state roots are never listed nor touched; containers
// being created or changed right now (their lock is held) are left alone.
func (m *Manager) Doctor(ctx context.Context, fix bool) (DoctorReport, error) {
	var rep DoctorReport
	// The store lock keeps creates out of the window between making a
	// container's folder and writing its record (Create holds it there), so
	// a folder without a record here is a crashed create.
	sl, err := m.storeLock()
	if err != nil {
		return rep, err
	}
	defer sl.Unlock()
	ents, err := os.ReadDir(m.paths.Containers())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, err
	}
	alive := map[string]bool{}
	var locks []*fileLock
	defer func() {
		for _, l := range locks {
			l.Unlock()
		}
	}()
	var errs []error
	for _, e := range ents {
		id := e.Name()
		if !e.IsDir() || !idRE.MatchString(id) {
			continue
		}
		l, ok, err := tryLockFile(filepath.Join(m.paths.RecordDir(id), ".lock"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			alive[id] = true // busy: a create or a change holds it
			continue
		}
		locks = append(locks, l)
		rec, rerr := m.paths.readRecord(id)
		if rerr == nil && rec.State != RecordCreating {
			st, err := m.Status(rec)
			if err == nil && st != StatusExited {
				alive[id] = true
			}
			rep.Healthy++ // its network, if leaked, is listed below
			continue
		}
		what := fmt.Sprintf("half-made container %s (create interrupted)", id[:12])
		if rerr == nil {
			what = fmt.Sprintf("half-made container %s %q (create interrupted)", id[:12], rec.Name)
		}
		rep.Orphans = append(rep.Orphans, what)
		if fix {
			if err := m.teardown(ctx, id, true, true); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
				continue
			}
			// A create killed inside libcontainer.Create/Run leaves a state
			// folder without a loadable state (teardown found nothing to destroy).
			if err := os.RemoveAll(filepath.Join(m.paths.Libcontainer(), id)); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := os.RemoveAll(m.paths.RecordDir(id)); err != nil {
				errs = append(errs, err)
				continue
			}
			removeContainerCgroups(id)
			rep.Fixed = append(rep.Fixed, what)
		}
	}
	isAlive := func(id string) bool { return alive[id] }
	orphans, err := netns.Orphans(m.paths.ID(), isAlive)
	if err != nil {
		errs = append(errs, err)
	}
	ids := map[string]bool{}
	for _, o := range orphans {
		rep.Orphans = append(rep.Orphans, o.What)
		ids[o.ID] = true
	}
	nsFiles, _ := os.ReadDir(filepath.Join(m.paths.Run, "netns"))
	for _, f := range nsFiles {
		if idRE.MatchString(f.Name()) && !alive[f.Name()] {
			rep.Orphans = append(rep.Orphans, "network namespace "+m.paths.NetnsPath(f.Name()))
			ids[f.Name()] = true
		}
	}
	if fix {
		sorted := make([]string, 0, len(ids))
		for id := range ids {
			sorted = append(sorted, id)
		}
		sort.Strings(sorted)
		for _, id := range sorted {
			if err := netns.Release(m.paths.ID(), id, m.paths.NetnsPath(id)); err != nil {
				errs = append(errs, netErr(err))
				continue
			}
			rep.Fixed = append(rep.Fixed, "network of container "+id[:min(12, len(id))])
		}
	}
	return rep, errors.Join(errs...)
}

// removeContainerCgroups removes container id's cgroup folders in every
// hierarchy. A create killed inside libcontainer's start can leave its init
// process there with no state to destroy it by: whatever is still in the
// container's own cgroup is killed first (id is a record of this root, so the
// cgroup is this root's), then the folders are removed.
func removeContainerCgroups(id string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent + "/" + id)
	dirs = append(dirs, "/sys/fs/cgroup/"+cgroupParent+"/"+id)
	procs := func() []int {
		var pids []int
		for _, d := range dirs {
			data, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
		}
		return pids
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		pids := procs()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	for _, d := range dirs {
		unix.Rmdir(d)
	}
	removeEmptyCgroupParents()
}
