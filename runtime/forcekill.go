package runtime

import (
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// killThroughLock makes a forced Stop or Remove (SIGKILL at once: rm,
// rm -f, stop --force, stop -t 0) not wait out another process's grace
// period: when the container's lock is held — another process stopping it
// with stop -t 600, say — SIGKILL goes to its PID 1 right away, as docker
// rm -f does. The holder's wait then ends at once, it completes its stop
// and releases the lock, which the caller then takes. A container still
// being created (its record says so) is left alone: its create is brief and
// the caller just waits for it; a resume or reboot under way fails (its
// container was killed). Nothing happens when the lock is free.
func (m *Manager) killThroughLock(id string) {
	l, ok, err := tryLockFile(filepath.Join(m.paths.RecordDir(id), ".lock"))
	if err != nil {
		return // no record folder: nothing to kill
	}
	if ok {
		l.Unlock()
		return
	}
	if rec, err := m.paths.readRecord(id); err != nil || rec.State == RecordCreating {
		return
	}
	c, err := libcontainer.Load(m.paths.Libcontainer(), id)
	if err != nil {
		return
	}
	if st, err := c.Status(); err != nil || st == libcontainer.Stopped {
		return
	}
	if err := c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		slog.Debug("SIGKILL through a held lock", "container", id, "error", err)
	}
}
