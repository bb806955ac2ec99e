package image

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/copy"
	dockerarchive "go.podman.io/image/v5/docker/archive"
	"go.podman.io/image/v5/docker/reference"
	ocilayout "go.podman.io/image/v5/oci/layout"
	"go.podman.io/image/v5/pkg/compression"
	"go.podman.io/image/v5/signature"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/image/v5/tarball"
	imgtypes "go.podman.io/image/v5/types"
	"go.podman.io/storage/pkg/archive"
)

// archiveKind is what Import found in a file.
type archiveKind int

const (
	kindRootfs        archiveKind = iota // a plain filesystem tarball
	kindDockerArchive                    // manifest.json at the top (docker save / podman save)
	kindOCIArchive                       // oci-layout at the top (an OCI image layout in a tar)
	kindOCILayout                        // a folder holding an OCI image layout
)

func (k archiveKind) String() string {
	switch k {
	case kindDockerArchive:
		return "docker-archive"
	case kindOCIArchive:
		return "oci-archive"
	case kindOCILayout:
		return "OCI layout"
	}
	return "rootfs tarball"
}

// defaultPath is the PATH of images made from a rootfs tarball.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// containerdNameAnnotation is the full image name docker (>= 25) and
// containerd put on the manifests of an OCI layout they write.
const containerdNameAnnotation = "io.containerd.image.name"

// Import loads the images in the file or folder at path into the store. A
// folder must be an OCI image layout (oci-layout, index.json, blobs/, as
// `skopeo copy … oci:DIR` or `podman save --format oci-dir` write). For a file
// the kind is detected from the content (a fifo or character device —
// /dev/stdin, bash's <(…) — is first read to a temporary file, as ImportFrom
// does; compression — gzip, zstd, xz,
// bzip2 — is undone first): a docker-archive (manifest.json at the top, as
// docker/podman save and Export write), an oci-archive (oci-layout at the
// top), else a plain rootfs tarball
// that becomes a one-layer OCI image for the host's architecture with Env
// PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, no user,
// no command.
//
// Names: a docker-archive's RepoTags and an OCI layout's
// io.containerd.image.name or full org.opencontainers.image.ref.name become
// image names, normalized like docker ("pocketdock/busybox:latest" →
// "docker.io/pocketdock/busybox:latest"). A non-empty tag is added to them
// (a short tag gets the "localhost/" registry, as podman tag does: "app" →
// "localhost/app:latest"); a name already held by another image moves to
// the imported one. A rootfs tarball needs a tag; an archive holding several
// images takes no tag. Images without any name are kept, reachable by ID.
//
// Returns the imported images in archive order; progress (when non-nil)
// receives containers/image's copy progress. Errors: ErrInvalidArgument for
// a missing, unreadable or unrecognised file, a bad or missing tag; errors of the
// copy (policy rejection, corrupt layers) wrapped with the path.
func (s *Store) Import(ctx context.Context, path, tag string, progress io.Writer) ([]*Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("import %q: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("import %q: %w", path, err)
	}
	var tagged reference.Named
	if tag != "" {
		tagged, err = normalizeTag(tag)
		if err != nil {
			return nil, fmt.Errorf("import %q: %w", path, err)
		}
	}
	if imgs, ok, err := s.importPipe(ctx, path, abs, tag, progress); ok {
		return imgs, err
	}
	kind, err := detectImport(abs)
	if err != nil {
		return nil, fmt.Errorf("import %q: %w", path, err)
	}
	pc, err := s.policyContext()
	if err != nil {
		return nil, fmt.Errorf("import %q: %w", path, err)
	}
	defer func() { _ = pc.Destroy() }()

	var imgs []*Image
	switch kind {
	case kindDockerArchive:
		imgs, err = s.importDockerArchive(ctx, pc, abs, tagged, progress)
	case kindOCIArchive:
		imgs, err = s.importOCIArchive(ctx, pc, abs, tagged, progress)
	case kindOCILayout:
		imgs, err = s.importOCILayout(ctx, pc, abs, tagged, progress)
	default:
		imgs, err = s.importRootfs(ctx, pc, abs, tagged, progress)
	}
	if err != nil {
		return nil, fmt.Errorf("import %s %q: %w", kind, path, err)
	}
	return imgs, nil
}

// normalizeTag parses a user-given tag; a short name gets "localhost/", a
// missing tag "latest". Digests are refused.
func normalizeTag(tag string) (reference.Named, error) {
	full := tag
	if isShortName(tag) {
		full = "localhost/" + tag
	}
	named, err := reference.ParseNormalizedNamed(full)
	if err != nil {
		return nil, fmt.Errorf("tag %q: %w: %v (want [registry/]repo[:tag])", tag, ErrInvalidArgument, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, fmt.Errorf("tag %q: %w: a digest cannot be a tag (want [registry/]repo[:tag])", tag, ErrInvalidArgument)
	}
	return reference.TagNameOnly(named), nil
}

// detectImport returns kindOCILayout for a folder with an oci-layout file
// (ErrInvalidArgument for any other folder), else what detectArchive finds.
func detectImport(p string) (archiveKind, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%w: %q does not exist (want a docker-archive, oci-archive or rootfs tarball file, or an OCI layout folder)", ErrInvalidArgument, p)
	}
	if err != nil {
		return 0, err
	}
	if !fi.IsDir() {
		return detectArchive(p)
	}
	if fi, err := os.Lstat(filepath.Join(p, "oci-layout")); err != nil || !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%w: folder %q is not an OCI image layout (no oci-layout file; want an OCI layout folder or a docker-archive, oci-archive or rootfs tarball file)", ErrInvalidArgument, p)
	}
	return kindOCILayout, nil
}

// detectArchive decides what path holds by reading its (decompressed) tar
// headers until manifest.json or oci-layout shows up at the top level.
// Uncompressed files are scanned by seeking over the entries' data.
func detectArchive(file string) (archiveKind, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	_, decompressor, peeked, err := compression.DetectCompressionFormat(f)
	if err != nil {
		return 0, fmt.Errorf("%w: reading %q: %v", ErrInvalidArgument, file, err)
	}
	var stream io.Reader
	if decompressor != nil {
		rc, err := decompressor(peeked)
		if err != nil {
			return 0, fmt.Errorf("%w: decompressing %q: %v", ErrInvalidArgument, file, err)
		}
		defer rc.Close()
		stream = rc
	} else {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		stream = f // an io.Seeker: tar skips entry data without reading it
	}
	tr := tar.NewReader(stream)
	entries := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if entries == 0 {
				return 0, fmt.Errorf("%w: %q is not a (compressed) tar archive (want a docker-archive, oci-archive or rootfs tarball): %v", ErrInvalidArgument, file, err)
			}
			return 0, fmt.Errorf("reading tar %q: %w", file, err)
		}
		entries++
		switch path.Clean(strings.TrimPrefix(hdr.Name, "/")) {
		case "manifest.json":
			return kindDockerArchive, nil
		case "oci-layout":
			return kindOCIArchive, nil
		}
	}
	if entries == 0 {
		return 0, fmt.Errorf("%w: %q is an empty tar archive (want a docker-archive, oci-archive or rootfs tarball)", ErrInvalidArgument, file)
	}
	return kindRootfs, nil
}

// importDockerArchive copies every image of a docker-archive.
func (s *Store) importDockerArchive(ctx context.Context, pc *signature.PolicyContext, path string, tag reference.Named, progress io.Writer) ([]*Image, error) {
	sys := s.sys
	r, err := dockerarchive.NewReader(&sys, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	groups, err := r.List()
	if err != nil {
		return nil, err
	}
	if tag != nil && len(groups) > 1 {
		return nil, fmt.Errorf("tag %q: %w: the archive holds %d images (tag only single-image archives)", reference.FamiliarString(tag), ErrInvalidArgument, len(groups))
	}
	var out []*Image
	for _, refs := range groups {
		var names []string
		for _, ref := range refs {
			if dr := ref.DockerReference(); dr != nil {
				names = appendUnique(names, dr.String())
			}
		}
		if tag != nil {
			names = appendUnique(names, tag.String())
		}
		img, err := s.copyIn(ctx, pc, refs[0], names, progress)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// importOCIArchive unpacks an OCI layout (in a private temporary directory
// under the store's tmp) and copies each distinct manifest of its index.
func (s *Store) importOCIArchive(ctx context.Context, pc *signature.PolicyContext, path string, tag reference.Named, progress io.Writer) ([]*Image, error) {
	dir, err := os.MkdirTemp(s.sys.BigFilesTemporaryDir, "oci-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	// archive.Untar undoes any compression.
	err = archive.Untar(f, dir, &archive.TarOptions{NoLchown: true})
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("unpacking: %w", err)
	}
	return s.importOCILayout(ctx, pc, dir, tag, progress)
}

// importOCILayout copies each distinct manifest of the index of the OCI
// layout in folder dir (read through an os.Root, so no symlink in it leads
// outside).
func (s *Store) importOCILayout(ctx context.Context, pc *signature.PolicyContext, dir string, tag reference.Named, progress io.Writer) ([]*Image, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	reader := ocilayout.NewReaderWithRoot(root)
	list, err := ocilayout.List(dir)
	if err != nil {
		return nil, fmt.Errorf("reading index.json: %w", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: the OCI layout's index.json lists no images", ErrInvalidArgument)
	}
	// Group index entries by manifest digest: one copy, all names.
	type group struct {
		index int
		names []string
	}
	var groups []*group
	byDigest := map[string]*group{}
	for i, lr := range list {
		g := byDigest[lr.ManifestDescriptor.Digest.String()]
		if g == nil {
			g = &group{index: i}
			byDigest[lr.ManifestDescriptor.Digest.String()] = g
			groups = append(groups, g)
		}
		if n := ociName(lr.ManifestDescriptor.Annotations); n != "" {
			g.names = appendUnique(g.names, n)
		}
	}
	if tag != nil && len(groups) > 1 {
		return nil, fmt.Errorf("tag %q: %w: the archive holds %d images (tag only single-image archives)", reference.FamiliarString(tag), ErrInvalidArgument, len(groups))
	}
	var out []*Image
	for _, g := range groups {
		ref, err := reader.NewIndexReference(dir, g.index)
		if err != nil {
			return nil, err
		}
		names := g.names
		if tag != nil {
			names = appendUnique(names, tag.String())
		}
		img, err := s.copyIn(ctx, pc, ref, names, progress)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// ociName returns the normalized image name an OCI index entry carries:
// io.containerd.image.name, else org.opencontainers.image.ref.name when it
// is a full name (a bare tag like "latest" names nothing).
func ociName(ann map[string]string) string {
	for _, key := range []string{containerdNameAnnotation, imgspecv1.AnnotationRefName} {
		v := ann[key]
		if v == "" || (key == imgspecv1.AnnotationRefName && !strings.ContainsAny(v, "/:")) {
			continue
		}
		named, err := reference.ParseNormalizedNamed(v)
		if err != nil {
			continue
		}
		if _, ok := named.(reference.Digested); ok {
			continue
		}
		return reference.TagNameOnly(named).String()
	}
	return ""
}

// importRootfs makes a one-layer image from a filesystem tarball.
func (s *Store) importRootfs(ctx context.Context, pc *signature.PolicyContext, path string, tag reference.Named, progress io.Writer) ([]*Image, error) {
	if tag == nil {
		return nil, fmt.Errorf("%w: a rootfs tarball needs a tag (give one, like pocketdock/myimage:latest)", ErrInvalidArgument)
	}
	src := path
	// The tarball transport splits paths at ':' and reads "-" as stdin.
	if strings.Contains(src, ":") {
		dir, err := os.MkdirTemp(s.sys.BigFilesTemporaryDir, "rootfs-import-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		src = filepath.Join(dir, "rootfs.tar")
		if err := os.Symlink(path, src); err != nil {
			return nil, err
		}
	}
	ref, err := tarball.NewReference([]string{src}, nil)
	if err != nil {
		return nil, err
	}
	updater, ok := ref.(tarball.ConfigUpdater)
	if !ok {
		return nil, errors.New("internal error: tarball reference cannot take a config")
	}
	now := time.Now().UTC()
	cfg := imgspecv1.Image{
		Created:  &now,
		Platform: imgspecv1.Platform{OS: "linux", Architecture: goruntime.GOARCH},
		Config:   imgspecv1.ImageConfig{Env: []string{defaultPath}},
		History: []imgspecv1.History{{
			Created: &now,
			Comment: "imported from " + filepath.Base(path) + " by pocketdock",
		}},
	}
	if err := updater.ConfigUpdate(cfg, nil); err != nil {
		return nil, err
	}
	img, err := s.copyIn(ctx, pc, ref, []string{tag.String()}, progress)
	if err != nil {
		return nil, err
	}
	return []*Image{img}, nil
}

// copyIn copies src into the store and gives the result exactly the names
// given (plus any it had). With no names it copies under a random temporary
// name that is removed afterwards, so the image stays reachable by ID only.
func (s *Store) copyIn(ctx context.Context, pc *signature.PolicyContext, src imgtypes.ImageReference, names []string, progress io.Writer) (*Image, error) {
	destName := ""
	temporary := false
	if len(names) > 0 {
		destName = names[0]
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		destName = "localhost/pocketdock-import-tmp:" + hex.EncodeToString(b[:])
		temporary = true
	}
	named, err := reference.ParseNormalizedNamed(destName)
	if err != nil {
		return nil, err
	}
	named = reference.TagNameOnly(named)
	dst, err := istorage.Transport.NewStoreReference(s.store, named, "")
	if err != nil {
		return nil, err
	}
	sys := s.sys
	if err := s.guardCopy(func() error {
		_, err := copy.Image(ctx, pc, dst, src, &copy.Options{
			ReportWriter:   progress,
			SourceCtx:      &sys,
			DestinationCtx: &sys,
		})
		return err
	}); err != nil {
		return nil, err
	}
	img, err := s.store.Image(named.String())
	if err != nil {
		return nil, fmt.Errorf("finding the imported image %s: %w", named, err)
	}
	if len(names) > 1 {
		if err := s.store.AddNames(img.ID, names[1:]); err != nil {
			return nil, fmt.Errorf("naming image %s: %w", img.ID, err)
		}
	}
	if temporary {
		if err := s.store.RemoveNames(img.ID, []string{named.String()}); err != nil {
			return nil, fmt.Errorf("naming image %s: %w", img.ID, err)
		}
	}
	if img, err = s.store.Image(img.ID); err != nil {
		return nil, err
	}
	return s.describe(img)
}

func appendUnique(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}
