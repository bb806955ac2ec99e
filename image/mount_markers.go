package image

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.podman.io/storage"
)

// imageMountsDir is the folder, in the store's run root, of the markers of
// image mounts (MountImage): one empty file per mount, named
// "<pid>-<start time>-<image ID>-<random>". containers/storage counts the
// mounts of a layer in the run root (mountpoints.json) but not who holds
// them, so a builder killed with SIGKILL while it had an image mounted
// left the count — and the overlay mount — behind for good. The markers
// live beside that count (the run root is a tmpfs in the default setup), so
// a reboot clears both together.
const imageMountsDir = "pocketdock-image-mounts"

// markImageMount records that this process is about to mount image id and
// returns the marker to remove once it is unmounted.
func (s *Store) markImageMount(id string) (string, error) {
	dir := filepath.Join(s.store.RunRoot(), imageMountsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	pid := os.Getpid()
	f, err := os.CreateTemp(dir, fmt.Sprintf("%d-%s-%s-", pid, processStart(pid), id))
	if err != nil {
		return "", err
	}
	f.Close()
	return f.Name(), nil
}

// unmountStaleImageMounts undoes the image mounts recorded by processes
// that no longer run (the PID is gone or is another process now): each
// marker is claimed by removing it — only the process whose removal
// succeeds unmounts, so two processes opening the store at once never
// unmount twice — and then the image is unmounted once (the mount count
// drops by the one mount the dead process held; the mounts of live
// builders stay).
func (s *Store) unmountStaleImageMounts() {
	dir := filepath.Join(s.store.RunRoot(), imageMountsDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		parts := strings.SplitN(e.Name(), "-", 4)
		if len(parts) != 4 {
			continue
		}
		pid, err := strconv.Atoi(parts[0])
		if err != nil || pid <= 0 || processStart(pid) == parts[1] {
			continue // alive: its mount is in use
		}
		if os.Remove(filepath.Join(dir, e.Name())) != nil {
			continue // another process claimed it
		}
		id := parts[2]
		if _, err := s.store.UnmountImage(id, false); err != nil &&
			!errors.Is(err, storage.ErrLayerNotMounted) && !errors.Is(err, storage.ErrImageUnknown) && !errors.Is(err, storage.ErrLayerUnknown) {
			slog.Warn("unmount the image a killed process left mounted", "image", id, "pid", pid, "error", err)
		}
	}
}
