package pocketdock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pocketdock/pocketdock/image"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// RemoveImageOptions are the options of RemoveImageWith.
type RemoveImageOptions struct {
	// Force also removes every container of the state root whose root
	// filesystem is based on the image — at once (SIGKILL), with its
	// files, as Container.Destroy does — before the image is deleted, like
	// podman rmi -f. It only matters when the image itself is to be
	// deleted: removing one of an image's several names touches no
	// container. The RUN containers of a build under way, and storage
	// containers that no pocketdock container owns, are never removed:
	// while one uses the image, RemoveImageWith refuses (ErrImageInUse
	// naming them) before it removes anything.
	Force bool
}

// imageUser is one user of an image: a pocketdock container (Name set;
// Build when it is the RUN container of a build under way) or another
// containers/storage container (Name "").
type imageUser struct {
	ID, Name string
	Build    bool
}

// String names the user for error messages: "container NAME (ID12)", or
// "storage container ID12" for one that is not a pocketdock container.
func (u imageUser) String() string {
	switch {
	case u.Name == "":
		return "storage container " + shortID(u.ID) + " (no pocketdock container owns it)"
	case u.Build:
		return fmt.Sprintf("container %s (%s) of a build under way", u.Name, shortID(u.ID))
	}
	return fmt.Sprintf("container %s (%s)", u.Name, shortID(u.ID))
}

// forceRemovable reports whether Force may remove u: a pocketdock
// container that is not a running build's.
func (u imageUser) forceRemovable() bool { return u.Name != "" && !u.Build }

// RemoveImageWith removes an image by name, ID or unique ID prefix, as
// RemoveImage does: one of several names only untags; by ID, or by its last
// name, the image is deleted with all its names and its unused layers.
// It returns the names of the containers it removed (only with Force).
// Errors: ErrImageNotFound; ErrImageInUse naming the containers using the
// image (without Force; with Force, when a user is one Force does not
// remove — a build's RUN container — and then nothing is removed);
// ErrInvalidArgument for a malformed or ambiguous reference.
func RemoveImageWith(ctx context.Context, root, ref string, opts RemoveImageOptions) ([]string, error) {
	s, err := imageStore(root)
	if err != nil {
		return nil, err
	}
	err = s.Remove(ref)
	if err == nil || !errors.Is(err, ErrImageInUse) {
		if err != nil {
			return nil, fmt.Errorf("rmi %s: %w", ref, err)
		}
		return nil, nil
	}
	users, uerr := imageUsers(ctx, root, s, ref)
	if uerr != nil || len(users) == 0 {
		return nil, fmt.Errorf("rmi %s: %w", ref, errors.Join(err, uerr))
	}
	var kept []imageUser
	for _, u := range users {
		if !u.forceRemovable() {
			kept = append(kept, u)
		}
	}
	if len(kept) > 0 {
		why := "a storage container that no pocketdock container owns"
		if slices.ContainsFunc(kept, func(u imageUser) bool { return u.Build }) {
			why = "a build's RUN container: wait for the build to end, then retry"
		}
		return nil, fmt.Errorf("rmi %s: %w: %s; nothing removed: --force does not remove %s", ref, ErrImageInUse, joinUsers(users), why)
	}
	if !opts.Force {
		return nil, fmt.Errorf("rmi %s: %w: %s; remove it first, or force the removal", ref, ErrImageInUse, joinUsers(users))
	}
	var removed []string
	for _, u := range users {
		c, err := GetContainerIn(ctx, root, u.ID)
		if errors.Is(err, ErrContainerNotFound) {
			continue // removed meanwhile
		}
		gone := false
		if err == nil {
			gone, err = c.destroy(ctx)
		}
		if err != nil {
			return removed, fmt.Errorf("rmi %s: remove %s: %w", ref, u, err)
		}
		if !gone { // else another process removed it: not ours to report
			removed = append(removed, u.Name)
		}
	}
	if err := s.Remove(ref); err != nil {
		if errors.Is(err, ErrImageInUse) {
			if left, lerr := imageUsers(ctx, root, s, ref); lerr == nil && len(left) > 0 {
				return removed, fmt.Errorf("rmi %s: %w: still used by %s", ref, ErrImageInUse, joinUsers(left))
			}
		}
		return removed, fmt.Errorf("rmi %s: %w", ref, err)
	}
	return removed, nil
}

// imageUsers lists the storage containers based on the image ref names,
// with the pocketdock container names of those that are containers of root
// and whether each is a build's RUN container (buildUnderWay).
func imageUsers(ctx context.Context, root string, s *image.Store, ref string) ([]imageUser, error) {
	img, err := s.Image(ref)
	if err != nil {
		return nil, err
	}
	cs, err := s.Storage().Containers()
	if err != nil {
		return nil, err
	}
	m, err := manager(root)
	if err != nil {
		return nil, err
	}
	recs, err := m.List()
	if err != nil {
		return nil, err
	}
	byID := map[string]*pdrt.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	var out []imageUser
	for _, c := range cs {
		if c.ImageID != img.ID {
			continue
		}
		u := imageUser{ID: c.ID}
		if r := byID[c.ID]; r != nil {
			u.Name, u.Build = r.Name, buildUnderWay(r)
		}
		out = append(out, u)
	}
	return out, nil
}

func joinUsers(users []imageUser) string {
	parts := make([]string, len(users))
	for i, u := range users {
		parts[i] = u.String()
	}
	return strings.Join(parts, ", ")
}
