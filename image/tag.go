package image

import "fmt"

// Tag adds the name dst to the local image src (any reference Image
// accepts), like `podman tag`: dst is normalized like Import's tag (a name
// without a registry gets "localhost/", a missing tag "latest": "app" →
// "localhost/app:latest", "me/app:1" → "localhost/me/app:1";
// "docker.io/me/app" → "docker.io/me/app:latest"); a name held by another
// image moves to this one. Returns the image with its new
// names. Errors: ErrImageNotFound; ErrInvalidArgument for a malformed src or
// dst, or a dst with a digest.
func (s *Store) Tag(src, dst string) (*Image, error) {
	img, err := s.lookup(src)
	if err != nil {
		return nil, fmt.Errorf("tag %q as %q: %w", src, dst, err)
	}
	if err := s.AddTags(img.ID, []string{dst}); err != nil {
		return nil, fmt.Errorf("tag %q as %q: %w", src, dst, err)
	}
	img, err = s.store.Image(img.ID)
	if err != nil {
		return nil, fmt.Errorf("tag %q as %q: %w", src, dst, err)
	}
	return s.describe(img)
}
