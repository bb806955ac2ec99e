package image

import (
	"errors"
	"fmt"
	"os"

	"github.com/moby/sys/mountinfo"
	"go.podman.io/storage"
)

// CreateRootfs makes the read-write root filesystem of container containerID:
// a containers/storage container with exactly that ID (and no names) whose
// overlay layer sits on the image imageID (a full ID; any reference Image
// accepts also works), mounted (mount option nodev). Returns the absolute
// path of the mounted root filesystem
// (R/storage/overlay/<layer>/merged). On any error nothing is left behind.
// Errors: ErrImageNotFound for an unknown image; containers/storage's
// ErrDuplicateID when the ID is taken; mount errors.
func (s *Store) CreateRootfs(containerID, imageID string) (rootfs string, err error) {
	if containerID == "" {
		return "", fmt.Errorf("create rootfs: %w: empty container ID", ErrInvalidArgument)
	}
	img, err := s.lookup(imageID)
	if err != nil {
		return "", fmt.Errorf("create rootfs for %s: %w", containerID, err)
	}
	if _, err := s.store.CreateContainer(containerID, nil, img.ID, "", "", nil); err != nil {
		return "", fmt.Errorf("create rootfs for %s on image %s: %w", containerID, img.ID, err)
	}
	defer func() {
		if err != nil {
			_, _ = s.store.Unmount(containerID, true)
			_ = s.store.DeleteContainer(containerID)
		}
	}()
	mnt, err := s.store.Mount(containerID, "")
	if err != nil {
		return "", fmt.Errorf("mount rootfs of %s: %w", containerID, err)
	}
	return mnt, nil
}

// MountRootfs mounts the root filesystem of an existing container (after a
// reboot, say) and returns its path. When it is already mounted it only
// returns the path, so repeated calls do not pile up mount counts. Errors:
// containers/storage's ErrContainerUnknown (wrapped) when there is no such
// rootfs; mount errors.
func (s *Store) MountRootfs(containerID string) (string, error) {
	c, err := s.store.Container(containerID)
	if err != nil {
		return "", fmt.Errorf("mount rootfs of %s: %w", containerID, err)
	}
	if n, err := s.store.Mounted(containerID); err == nil && n > 0 {
		if l, err := s.store.Layer(c.LayerID); err == nil && l.MountPoint != "" {
			if ok, err := mountinfo.Mounted(l.MountPoint); err == nil && ok {
				return l.MountPoint, nil
			}
		}
	}
	mnt, err := s.store.Mount(containerID, "")
	if err != nil {
		return "", fmt.Errorf("mount rootfs of %s: %w", containerID, err)
	}
	return mnt, nil
}

// RemoveRootfs force-unmounts (whatever the mount count, which persists across
// processes) and deletes the root filesystem of containerID, with its
// read-write layer. A rootfs that does not exist is not an error, so it is
// safe to call repeatedly and on half-created containers.
func (s *Store) RemoveRootfs(containerID string) error {
	if containerID == "" {
		return nil
	}
	if _, err := s.store.Container(containerID); err != nil {
		if errors.Is(err, storage.ErrContainerUnknown) {
			return nil
		}
		return fmt.Errorf("remove rootfs of %s: %w", containerID, err)
	}
	if _, err := s.store.Unmount(containerID, true); err != nil &&
		!errors.Is(err, storage.ErrLayerNotMounted) && !errors.Is(err, storage.ErrLayerUnknown) &&
		!errors.Is(err, storage.ErrContainerUnknown) && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unmount rootfs of %s: %w", containerID, err)
	}
	if err := s.store.DeleteContainer(containerID); err != nil && !errors.Is(err, storage.ErrContainerUnknown) {
		return fmt.Errorf("delete rootfs of %s: %w", containerID, err)
	}
	return nil
}
