package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/pgzip"
	"go.podman.io/image/v5/copy"
	dockerarchive "go.podman.io/image/v5/docker/archive"
	"go.podman.io/image/v5/docker/reference"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/storage"
	"golang.org/x/sys/unix"
)

// ExportedImage is one image written by Export.
type ExportedImage struct {
	// ID is the image ID (64 hex).
	ID string
	// Tags are the names written for it into the archive's RepoTags, in full
	// form ("docker.io/pocketdock/busybox:latest"); empty for an image
	// exported without a name (loadable by ID only).
	Tags []string
}

// exportItem is one image of an export plan with the tags to write.
type exportItem struct {
	id   string
	tags []reference.NamedTagged
}

// Export writes images into one docker-archive at path, loadable by
// `docker load`, `podman load` and Import. refs selects them: nil or empty
// means every image of the store with every name (images without a name are
// written untagged; a damaged image — one without a manifest, as a killed
// copy can leave — is skipped with a warning); otherwise each ref is resolved like Image — a ref that
// names an image writes that name, a ref that is an image ID or ID prefix
// writes all of the image's names. An image selected twice is written once
// with the union of its tags (the archive holds each layer once).
//
// A path ending in ".tar.gz" or ".tgz" is gzip-compressed (parallel gzip);
// any other name is a plain tar. The archive is written to an unnamed
// temporary file in path's folder (O_TMPFILE; a named temporary file where
// the filesystem lacks it) and put in place only when complete, replacing an
// existing file, so a failed or cancelled export leaves no partial file.
// progress (when non-nil) receives containers/image's copy progress.
//
// Returns what was written, in order. Errors: ErrImageNotFound for a ref
// matching no image; ErrInvalidArgument for a malformed or ambiguous ref, a
// damaged image named by a ref, a store with no intact image, a path that is a folder or whose folder does not exist, a
// path that is (or links to) a device, fifo or socket (the archive would
// replace the node; ExportTo writes to a stream);
// I/O and copy errors wrapped with the path.
func (s *Store) Export(ctx context.Context, refs []string, path string, progress io.Writer) ([]ExportedImage, error) {
	plan, err := s.exportPlan(refs)
	if err != nil {
		return nil, fmt.Errorf("export to %q: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("export to %q: %w", path, err)
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("export to %q: %w: it is a folder (want a file name ending in .tar, .tar.gz or .tgz)", path, ErrInvalidArgument)
	}
	if fi, err := os.Stat(filepath.Dir(abs)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("export to %q: %w: folder %q does not exist", path, ErrInvalidArgument, filepath.Dir(abs))
	}
	if err := checkExportTarget(path, abs); err != nil {
		return nil, err
	}
	out, err := createAtomic(abs)
	if err != nil {
		return nil, fmt.Errorf("export to %q: %w", path, err)
	}
	if err := s.writeArchive(ctx, plan, out.f, isGzipName(abs), progress); err != nil {
		out.abort()
		return nil, fmt.Errorf("export to %q: %w", path, err)
	}
	if err := out.commit(); err != nil {
		return nil, fmt.Errorf("export to %q: %w", path, err)
	}
	return exported(plan), nil
}

// ExportTo is Export writing the archive to w (gzip-compressed when gz)
// instead of a file, as `docker save IMAGE > FILE` does. What reached w
// before an error is a partial archive. Errors as Export's.
func (s *Store) ExportTo(ctx context.Context, refs []string, w io.Writer, gz bool, progress io.Writer) ([]ExportedImage, error) {
	plan, err := s.exportPlan(refs)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := s.writeArchive(ctx, plan, w, gz, progress); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return exported(plan), nil
}

// exported describes a written plan.
func exported(plan []exportItem) []ExportedImage {
	res := make([]ExportedImage, 0, len(plan))
	for _, it := range plan {
		e := ExportedImage{ID: it.id, Tags: []string{}}
		for _, t := range it.tags {
			e.Tags = append(e.Tags, t.String())
		}
		res = append(res, e)
	}
	return res
}

// hasManifest reports whether a storage image has a manifest, which every
// complete image copied by containers/image has.
func hasManifest(img *storage.Image) bool {
	return slices.ContainsFunc(img.BigDataNames, func(n string) bool {
		return strings.HasPrefix(n, storage.ImageDigestBigDataKey)
	})
}

// isGzipName reports whether an export path asks for gzip compression.
func isGzipName(p string) bool {
	l := strings.ToLower(p)
	return strings.HasSuffix(l, ".tar.gz") || strings.HasSuffix(l, ".tgz")
}

// exportPlan resolves the refs of Export into images and tags.
func (s *Store) exportPlan(refs []string) ([]exportItem, error) {
	var plan []exportItem
	add := func(id string, names []string) {
		i := slices.IndexFunc(plan, func(it exportItem) bool { return it.id == id })
		if i < 0 {
			plan = append(plan, exportItem{id: id})
			i = len(plan) - 1
		}
		for _, n := range names {
			named, err := reference.ParseNormalizedNamed(n)
			if err != nil {
				continue
			}
			tagged, ok := named.(reference.NamedTagged)
			if !ok {
				continue // a digest-only name cannot be a RepoTag
			}
			if !slices.ContainsFunc(plan[i].tags, func(t reference.NamedTagged) bool { return t.String() == tagged.String() }) {
				plan[i].tags = append(plan[i].tags, tagged)
			}
		}
	}
	if len(refs) == 0 {
		images, err := s.store.Images()
		if err != nil {
			return nil, fmt.Errorf("list images: %w", err)
		}
		if len(images) == 0 {
			return nil, fmt.Errorf("%w: the store holds no images to export", ErrInvalidArgument)
		}
		for _, img := range images {
			if isBuildIntermediate(&img) {
				continue // the build cache, as List leaves it out
			}
			if !hasManifest(&img) {
				slog.Warn("export: skipping a damaged image (no manifest, as a killed copy leaves one); remove it with pocketdock rmi", "id", img.ID, "names", img.Names)
				continue
			}
			add(img.ID, img.Names)
		}
		if len(plan) == 0 {
			return nil, fmt.Errorf("%w: the store holds no intact images to export", ErrInvalidArgument)
		}
		return plan, nil
	}
	for _, ref := range refs {
		img, err := s.lookup(ref)
		if err != nil {
			return nil, err
		}
		if !hasManifest(img) {
			return nil, fmt.Errorf("image %q (%s): %w: it is damaged (no manifest, as a killed copy leaves one); remove it with pocketdock rmi %s", ref, img.ID, ErrInvalidArgument, img.ID)
		}
		if name := s.matchedName(img, ref); name != "" {
			add(img.ID, []string{name})
		} else {
			add(img.ID, img.Names)
		}
	}
	return plan, nil
}

// writeArchive copies the planned images into one docker-archive written
// to dst (through gzip when gz). containers/image's archive writer takes a
// path, so it writes into a pipe (reopened through /proc/self/fd) that this
// process drains into dst.
func (s *Store) writeArchive(ctx context.Context, plan []exportItem, dst io.Writer, gz bool, progress io.Writer) (err error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	drained := make(chan error, 1)
	go func() {
		w := dst
		var zw *pgzip.Writer
		if gz {
			zw = pgzip.NewWriter(dst)
			w = zw
		}
		_, err := io.Copy(w, pr)
		if zw != nil {
			if cerr := zw.Close(); err == nil {
				err = cerr
			}
		}
		// Closing the read end makes further writes fail (EPIPE) instead of
		// blocking when the copy stopped early.
		pr.Close()
		drained <- err
	}()
	aw, err := dockerarchive.NewWriter(&s.sys, fmt.Sprintf("/proc/self/fd/%d", pw.Fd()))
	pw.Close() // the archive writer holds its own descriptor of the pipe
	if err != nil {
		pr.Close()
		<-drained
		return err
	}
	pc, err := s.policyContext()
	if err != nil {
		aw.Close()
		<-drained
		return err
	}
	defer func() { _ = pc.Destroy() }()
	var copyErr error
	for _, it := range plan {
		src, err := istorage.Transport.NewStoreReference(s.store, nil, it.id)
		if err != nil {
			copyErr = err
			break
		}
		// One copy per image: the archive writer cannot take the same image
		// twice, so the tags beyond the first ride along as additional tags.
		var first reference.NamedTagged
		srcSys, destSys := s.sys, s.sys
		if len(it.tags) > 0 {
			first = it.tags[0]
			destSys.DockerArchiveAdditionalTags = it.tags[1:]
		}
		dest, err := aw.NewReference(first)
		if err == nil {
			_, err = copy.Image(ctx, pc, dest, src, &copy.Options{ReportWriter: progress, SourceCtx: &srcSys, DestinationCtx: &destSys})
		}
		if err != nil {
			copyErr = fmt.Errorf("image %s: %w", it.id, err)
			break
		}
	}
	closeErr := aw.Close()
	drainErr := <-drained
	return errors.Join(copyErr, closeErr, drainErr)
}

// atomicFile is a file that appears at its path only when committed.
type atomicFile struct {
	f    *os.File
	path string // final path
	tmp  string // named temporary file; "" when f is an O_TMPFILE
}

// createAtomic opens an unnamed file in path's folder (O_TMPFILE), or a
// hidden named temporary file where the filesystem cannot make unnamed ones.
func createAtomic(path string) (*atomicFile, error) {
	dir := filepath.Dir(path)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err == nil {
		return &atomicFile{f: os.NewFile(uintptr(fd), path), path: path}, nil
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &atomicFile{f: f, path: path, tmp: f.Name()}, nil
}

// abort drops the file.
func (a *atomicFile) abort() {
	a.f.Close()
	if a.tmp != "" {
		os.Remove(a.tmp)
	}
}

// commit syncs the file and puts it at its path (replacing what is there).
func (a *atomicFile) commit() error {
	if err := a.f.Sync(); err != nil {
		a.abort()
		return err
	}
	tmp := a.tmp
	if tmp == "" {
		// Give the unnamed file a hidden name, then rename it over the target
		// (linkat cannot replace an existing file).
		tmp = filepath.Join(filepath.Dir(a.path), fmt.Sprintf(".%s.tmp-%d", filepath.Base(a.path), os.Getpid()))
		os.Remove(tmp)
		if err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", a.f.Fd()), unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW); err != nil {
			a.f.Close()
			return fmt.Errorf("linking the finished file: %w", err)
		}
	}
	if err := a.f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, a.path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(a.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
