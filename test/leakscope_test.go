package test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Host-wide objects and this test run's state root.
//
// Container cgroups (/pocketdock/<id> in every hierarchy, DESIGN.md) carry
// no state root, and other pocketdock runs on this host (other state roots)
// make and remove theirs while these tests run. hostState therefore counts a
// cgroup only when its ID belongs to stateRoot. Every container of a root
// gets its record folder <root>/containers/<id> before libcontainer makes
// its cgroups (runtime.Manager.Create writes the record, then starts PID 1),
// so an inotify watch on that folder, set up before the first container,
// learns every ID of this root, also of containers whose record is long gone
// by the time a leak check runs. Network objects carry the root in their tag
// (rootNetObjects); a host veth that is still untagged (a create killed
// between making it and tagging it) is attributed by its name, pd<12 hex of
// the ID>, the same way.

// idWatch remembers the container IDs ever created in one state root.
type idWatch struct {
	mu  sync.Mutex
	fd  int // inotify instance (non-blocking) watching the containers folder; -1 without one
	ids map[string]bool
	// strict is why every cgroup counts as this root's (no watch, or its
	// event queue overflowed, so IDs may be missed); "" when the set is whole.
	strict string
}

// ownIDs holds the container IDs of stateRoot (set up by watchOwnIDs in TestMain).
var ownIDs = &idWatch{fd: -1, ids: map[string]bool{}, strict: "no watch on the state root's containers folder"}

// watch starts watching dir (created when missing, mode 0700 as pocketdock
// makes it) for new container record folders.
func (w *idWatch) watch(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("inotify_init1: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ONLYDIR); err != nil {
		unix.Close(fd)
		return fmt.Errorf("inotify_add_watch %s: %w", dir, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fd, w.strict = fd, ""
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		w.addLocked(e.Name())
	}
	return nil
}

// close ends the watch; the IDs seen so far stay.
func (w *idWatch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd >= 0 {
		unix.Close(w.fd)
		w.fd = -1
	}
}

// add records ids as this root's (the IDs a test itself made or names).
func (w *idWatch) add(ids ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		w.addLocked(id)
	}
}

func (w *idWatch) addLocked(name string) {
	if isContainerID(name) {
		w.ids[name] = true
	}
}

// drainLocked reads every event queued so far. A folder made before the
// call (a record made before its cgroup was listed) is in the queue.
func (w *idWatch) drainLocked() {
	if w.fd < 0 {
		return
	}
	buf := make([]byte, 64*1024)
	for {
		n, err := unix.Read(w.fd, buf)
		if err != nil || n <= 0 {
			if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
				w.strict = "reading the inotify watch: " + err.Error()
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				w.strict = "the inotify event queue overflowed"
			}
			w.addLocked(strings.TrimRight(string(name), "\x00"))
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// owner returns a function that reports whether container id (the whole
// ID, or its first 12 hex digits) is this root's, as far as known now. Call
// it after listing the objects to judge: their containers' records were made
// before, so their IDs are known.
func (w *idWatch) owner() func(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.drainLocked()
	if w.strict != "" {
		return func(string) bool { return true }
	}
	ids := make(map[string]bool, 2*len(w.ids))
	for id := range w.ids {
		ids[id], ids[id[:12]] = true, true
	}
	return func(id string) bool { return ids[id] }
}

// isContainerID reports a pocketdock container ID: 64 lowercase hex digits.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// cgroupDirs lists the cgroup folders of container id in every hierarchy
// (/sys/fs/cgroup/<controller>/pocketdock/<id> on cgroup v1 and the hybrid
// unified one, /sys/fs/cgroup/pocketdock/<id> on v2); id "*" lists every
// container's.
func cgroupDirs(id string) []string {
	cg, _ := filepath.Glob("/sys/fs/cgroup/*/pocketdock/" + id)
	cg2, _ := filepath.Glob("/sys/fs/cgroup/pocketdock/" + id)
	var dirs []string
	for _, d := range append(cg, cg2...) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// ownCgroups lists the container cgroup folders on the host whose container
// is stateRoot's (every one when the ID set may be incomplete).
func ownCgroups() []string {
	dirs := cgroupDirs("*")
	mine := ownIDs.owner() // after the listing: see owner
	var out []string
	for _, d := range dirs {
		if mine(filepath.Base(d)) {
			out = append(out, d)
		}
	}
	return out
}

// ownUntaggedVeths lists the host veths named after a container of
// stateRoot (netns.VethName: "pd" and the ID's first 12 hex digits) that
// carry no tag yet: pocketdock tags a veth right after making it, so only a
// create killed in between leaves one.
func ownUntaggedVeths() []string {
	links, _ := netlink.LinkList()
	var untagged []netlink.Link
	for _, l := range links {
		if l.Type() == "veth" && l.Attrs().Alias == "" {
			untagged = append(untagged, l)
		}
	}
	mine := ownIDs.owner()
	var out []string
	for _, l := range untagged {
		if n := l.Attrs().Name; len(n) == 14 && strings.HasPrefix(n, "pd") && mine(n[2:]) {
			out = append(out, "link "+n+" (untagged)")
		}
	}
	return out
}
