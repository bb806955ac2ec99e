package pocketdock

import (
	"context"
	"fmt"
	"io"

	"github.com/pocketdock/pocketdock/image"
)

// ErrNotLoggedIn: LogoutRegistry of a registry with no stored credentials.
var ErrNotLoggedIn = image.ErrNotLoggedIn

// ExportedImage is one image ExportImages wrote.
type ExportedImage struct {
	// ID is the image ID (64 hex).
	ID string
	// Tags are the names written for it (the archive's RepoTags), in full
	// form ("docker.io/pocketdock/busybox:latest"); empty when it was
	// written without a name.
	Tags []string
}

// ExportImages writes images of the store of state root root ("" = default)
// into one docker-archive at path, loadable by `pocketdock import`,
// `podman load` and `docker load`. With all, every image goes in with every
// name; otherwise refs name them (a name writes that name; an image ID or ID
// prefix writes all of the image's names). A path ending in .tar.gz or .tgz
// is gzip-compressed. The file appears only when complete (an existing one is
// replaced); a failure leaves none. progress, when non-nil, receives
// progress lines. Errors: ErrInvalidArgument (both or neither of all and
// refs, an empty store, a bad path), ErrImageNotFound (a ref matching
// nothing).
func ExportImages(ctx context.Context, root string, refs []string, all bool, path string, progress io.Writer) ([]ExportedImage, error) {
	switch {
	case all && len(refs) > 0:
		return nil, fmt.Errorf("export: %w: all images or the images %q, not both", ErrInvalidArgument, refs)
	case !all && len(refs) == 0:
		return nil, fmt.Errorf("export: %w: no images named (name images, or export all)", ErrInvalidArgument)
	case path == "":
		return nil, fmt.Errorf("export: %w: empty output path (want FILE.tar, FILE.tar.gz or FILE.tgz)", ErrInvalidArgument)
	}
	s, err := imageStore(root)
	if err != nil {
		return nil, err
	}
	done, err := s.Export(ctx, refs, path, progress)
	if err != nil {
		return nil, err
	}
	return exportedImages(done), nil
}

// ExportImagesTo is ExportImages writing the archive to w (gzip-compressed
// when gz), as `docker save IMAGE > FILE` does; what reached w before an
// error is a partial archive. Errors as ExportImages'.
func ExportImagesTo(ctx context.Context, root string, refs []string, all bool, w io.Writer, gz bool, progress io.Writer) ([]ExportedImage, error) {
	switch {
	case all && len(refs) > 0:
		return nil, fmt.Errorf("export: %w: all images or the images %q, not both", ErrInvalidArgument, refs)
	case !all && len(refs) == 0:
		return nil, fmt.Errorf("export: %w: no images named (name images, or export all)", ErrInvalidArgument)
	}
	s, err := imageStore(root)
	if err != nil {
		return nil, err
	}
	done, err := s.ExportTo(ctx, refs, w, gz, progress)
	if err != nil {
		return nil, err
	}
	return exportedImages(done), nil
}

func exportedImages(done []image.ExportedImage) []ExportedImage {
	out := make([]ExportedImage, 0, len(done))
	for _, e := range done {
		out = append(out, ExportedImage{ID: e.ID, Tags: e.Tags})
	}
	return out
}

// ImportImageFrom is ImportImage for an archive read from r (as `docker
// load < FILE` reads stdin): any kind ImportImage takes in a file, spooled to
// the store's temporary folder first. Errors as ImportImage's.
func ImportImageFrom(ctx context.Context, root string, r io.Reader, tag string, progress io.Writer) ([]ImageInfo, error) {
	s, err := imageStore(root)
	if err != nil {
		return nil, err
	}
	imgs, err := s.ImportFrom(ctx, r, tag, progress)
	if err != nil {
		return nil, err
	}
	out := make([]ImageInfo, 0, len(imgs))
	for _, i := range imgs {
		out = append(out, imageInfo(i))
	}
	return out, nil
}

// TagImage adds the names dst to the local image src (a name, ID or ID
// prefix), like `podman tag`: a dst without a registry gets "localhost/"
// ("app" → "localhost/app:latest"), a missing tag "latest"; a name another
// image held moves to this one. Every name is checked before any is added
// (a malformed one changes nothing). Returns the image with its names.
// Errors: ErrImageNotFound, ErrInvalidArgument (a malformed name).
func TagImage(ctx context.Context, root, src string, dst ...string) (ImageInfo, error) {
	s, err := imageStore(root)
	if err != nil {
		return ImageInfo{}, err
	}
	img, err := s.Tag(src, dst...)
	if err != nil {
		return ImageInfo{}, err
	}
	return imageInfo(img), nil
}

// LoginRegistry checks username and password against registry (host[:port],
// optionally /namespace; "https://…" and docker's index.docker.io spellings
// are accepted) and stores them where pulls find them: $REGISTRY_AUTH_FILE,
// else $DOCKER_CONFIG/config.json, else containers/image's default
// auth.json (${XDG_RUNTIME_DIR}/containers/auth.json, or
// /run/containers/0/auth.json as root without XDG_RUNTIME_DIR) — the file
// podman uses. Registries on localhost, 127.0.0.1 and [::1] may be plain
// HTTP. root selects the state root whose registries.conf applies. Returns
// the normalized registry key. Errors: ErrInvalidArgument (bad registry,
// empty username or password); the registry's refusal, nothing stored.
func LoginRegistry(ctx context.Context, root, registry, username, password string) (string, error) {
	s, err := imageStore(root)
	if err != nil {
		return "", err
	}
	return s.Login(ctx, registry, username, password)
}

// LogoutRegistry removes the stored credentials of registry (normalized
// like LoginRegistry), or with all (and registry "") every stored
// credential. Errors: ErrNotLoggedIn, ErrInvalidArgument.
func LogoutRegistry(ctx context.Context, root, registry string, all bool) error {
	s, err := imageStore(root)
	if err != nil {
		return err
	}
	return s.Logout(registry, all)
}
