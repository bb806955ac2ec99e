package image

import (
	"fmt"
	"strings"
)

// Tag adds the names dst to the local image src (any reference Image
// accepts), like `podman tag`: dst is normalized like Import's tag (a name
// without a registry gets "localhost/", a missing tag "latest": "app" →
// "localhost/app:latest", "me/app:1" → "localhost/me/app:1";
// "docker.io/me/app" → "docker.io/me/app:latest"); a name held by another
// image moves to this one. All names are checked before any is added, so a
// bad one leaves the image as it was. Returns the image with its new
// names. Errors: ErrImageNotFound; ErrInvalidArgument for a malformed src or
// dst, a dst with a digest, or no dst.
func (s *Store) Tag(src string, dst ...string) (*Image, error) {
	if len(dst) == 0 {
		return nil, fmt.Errorf("tag %q: %w: no new name given (want at least one [registry/]repo[:tag])", src, ErrInvalidArgument)
	}
	img, err := s.lookup(src)
	if err != nil {
		return nil, fmt.Errorf("tag %q as %s: %w", src, quoteAll(dst), err)
	}
	if err := s.AddTags(img.ID, dst); err != nil {
		return nil, fmt.Errorf("tag %q as %s: %w", src, quoteAll(dst), err)
	}
	img, err = s.store.Image(img.ID)
	if err != nil {
		return nil, fmt.Errorf("tag %q as %s: %w", src, quoteAll(dst), err)
	}
	return s.describe(img)
}

// quoteAll quotes each of names and joins them with ", ".
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
