package pocketdock

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pocketdock/pocketdock/image"
)

// ImageInfo describes one image of the local store.
type ImageInfo struct {
	// ID is the storage image ID (64 hex).
	ID string
	// Names are the image's full references (docker.io/pocketdock/busybox:latest);
	// empty, never nil, for an untagged image.
	Names []string
	// Digest is the manifest digest ("sha256:…"), "" if unknown.
	Digest string
	// Size is the image's size in bytes (uncompressed layers), -1 if unknown.
	Size int64
	// Created is the image's creation time from its config.
	Created time.Time
}

func imageInfo(img *image.Image) ImageInfo {
	names := img.Names
	if names == nil {
		names = []string{} // an untagged image: [] in JSON, not null
	}
	return ImageInfo{ID: img.ID, Names: names, Digest: img.Digest, Size: img.Size, Created: img.Created}
}

func imageStore(root string) (*image.Store, error) {
	m, err := manager(root)
	if err != nil {
		return nil, err
	}
	return m.Images()
}

// ImportImage loads an image archive into the store of state root root ("" =
// default): a docker-archive, an oci-archive (both optionally gzip'd), an OCI
// image layout folder or a plain rootfs tarball (which needs tag). tag "" keeps the archive's own names.
// progress, when non-nil, receives progress lines. Errors: ErrInvalidArgument
// (unreadable or unknown archive, bad tag).
func ImportImage(ctx context.Context, root, path, tag string, progress io.Writer) ([]ImageInfo, error) {
	s, err := imageStore(root)
	if err != nil {
		return nil, err
	}
	imgs, err := s.Import(ctx, path, tag, progress)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	out := make([]ImageInfo, 0, len(imgs))
	for _, i := range imgs {
		out = append(out, imageInfo(i))
	}
	return out, nil
}

// PullImage pulls ref (a docker:// registry reference; localhost and
// 127.0.0.1 registries may be plain HTTP) into the store. ErrImageNotFound
// wraps the pull error.
func PullImage(ctx context.Context, root, ref string, progress io.Writer) (ImageInfo, error) {
	s, err := imageStore(root)
	if err != nil {
		return ImageInfo{}, err
	}
	img, err := s.Pull(ctx, ref, progress)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	return imageInfo(img), nil
}

// ListImages lists the images of the store.
func ListImages(ctx context.Context, root string) ([]ImageInfo, error) {
	s, err := imageStore(root)
	if err != nil {
		return nil, err
	}
	imgs, err := s.List()
	if err != nil {
		return nil, err
	}
	out := make([]ImageInfo, 0, len(imgs))
	for _, i := range imgs {
		out = append(out, imageInfo(i))
	}
	return out, nil
}

// RemoveImage removes an image by name, ID or ID prefix. ErrImageNotFound,
// or ErrImageInUse (naming the containers) when a container uses it; see
// RemoveImageWith.
func RemoveImage(ctx context.Context, root, ref string) error {
	_, err := RemoveImageWith(ctx, root, ref, RemoveImageOptions{})
	return err
}
