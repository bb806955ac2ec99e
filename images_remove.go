package pocketdock

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pocketdock/pocketdock/image"
)

// RemoveImageOptions are the options of RemoveImageWith.
type RemoveImageOptions struct {
	// Force also removes every container of the state root whose root
	// filesystem is based on the image — at once (SIGKILL), with its
	// files, as Container.Destroy does — before the image is deleted, like
	// podman rmi -f. It only matters when the image itself is to be
	// deleted: removing one of an image's several names touches no
	// container. Filesystems that are not pocketdock containers (a build
	// under way) are never removed; they still refuse the removal.
	Force bool
}

// imageUser is one user of an image: a pocketdock container (Name set) or
// another containers/storage container (a build's, Name "").
type imageUser struct{ ID, Name string }

func (u imageUser) String() string {
	if u.Name == "" {
		return "storage container " + shortID(u.ID)
	}
	return fmt.Sprintf("container %s (%s)", u.Name, shortID(u.ID))
}

// RemoveImageWith removes an image by name, ID or unique ID prefix, as
// RemoveImage does: one of several names only untags; by ID, or by its last
// name, the image is deleted with all its names and its unused layers.
// It returns the names of the containers it removed (only with Force).
// Errors: ErrImageNotFound; ErrImageInUse naming the containers using the
// image (without Force; with Force, only users that are not pocketdock
// containers); ErrInvalidArgument for a malformed or ambiguous reference.
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
	if !opts.Force {
		return nil, fmt.Errorf("rmi %s: %w: %s; remove it first, or force the removal", ref, ErrImageInUse, joinUsers(users))
	}
	var removed []string
	for _, u := range users {
		if u.Name == "" {
			continue // not pocketdock's: never removed here
		}
		c, err := GetContainerIn(ctx, root, u.ID)
		if errors.Is(err, ErrContainerNotFound) {
			continue // removed meanwhile
		}
		if err == nil {
			err = c.Destroy(ctx)
		}
		if err != nil {
			return removed, fmt.Errorf("rmi %s: remove %s: %w", ref, u, err)
		}
		removed = append(removed, u.Name)
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
// with the pocketdock container names of those that are containers of root.
func imageUsers(ctx context.Context, root string, s *image.Store, ref string) ([]imageUser, error) {
	img, err := s.Image(ref)
	if err != nil {
		return nil, err
	}
	cs, err := s.Storage().Containers()
	if err != nil {
		return nil, err
	}
	list, err := ListContainersIn(ctx, root, "")
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, c := range list {
		names[c.ID] = c.Name
	}
	var out []imageUser
	for _, c := range cs {
		if c.ImageID == img.ID {
			out = append(out, imageUser{ID: c.ID, Name: names[c.ID]})
		}
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
