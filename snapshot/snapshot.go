// Package snapshot commits a container's filesystem changes as a new image,
// the way buildah commits: the overlay diff of the container's read-write
// layer (deletions as whiteouts, opaque directories, hardlinks, symlinks,
// fifos, xattrs and file capabilities kept) becomes a new layer on the
// image's top layer, with a new config and history entry, written into the
// store the way containers/image writes one, so it exports like any other
// image (image.Store.CommitLayer). The
// layer itself is written while the container is frozen, through
// containers/storage's staged-layer API with the checksums, tar-split and
// unpacking side by side (stage.go, produce.go): the same layer PutLayer
// would make, in about the time `tar -cf` takes to write the changes.
//
// pocketdock's own mount points (the agent, /etc/hosts, /etc/hostname,
// /etc/resolv.conf, volume targets — every mount of the container) never
// appear in the diff, nor do folders that exist only because a mount point
// needed them. A file whose name starts with ".wh." cannot be held by an OCI
// layer (it means a deletion): Commit refuses it with ErrInvalidArgument
// naming it, and commits nothing.
package snapshot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/storage"
	"go.podman.io/storage/pkg/archive"

	"github.com/pocketdock/pocketdock/image"
)

// ErrInvalidArgument is returned (wrapped) for a name a layer cannot hold
// and for a bad image name; it is image.ErrInvalidArgument.
var ErrInvalidArgument = image.ErrInvalidArgument

// Options say what to commit.
type Options struct {
	// Store is the image store holding the container's layer.
	Store *image.Store
	// ContainerID is the containers/storage container (pocketdock's container ID).
	ContainerID string
	// BaseImage is the image the container runs on (its ID).
	BaseImage string
	// Name is the new image's name ("snap" → localhost/snap:latest).
	Name string
	// Exclude are container paths of mount points to leave out of the diff.
	Exclude []string
	// Frozen runs fn with the container's processes frozen (or stopped), so
	// the diff is consistent. nil runs fn as it is.
	Frozen func(fn func() error) error
	// CreatedBy and Comment go into the new history entry.
	CreatedBy, Comment string
}

// Commit takes the diff of the container's layer (inside o.Frozen), then
// commits it as a new image and returns its ID. On any error nothing is
// committed and no temporary file stays.
func Commit(ctx context.Context, o Options) (string, error) {
	if err := image.ValidateTag(o.Name); err != nil {
		return "", fmt.Errorf("snapshot %s: %w", o.ContainerID, err)
	}
	src, err := openDiff(o)
	if err != nil {
		return "", fmt.Errorf("snapshot %s: %w", o.ContainerID, err)
	}
	var layer *storage.Layer
	var imgID string
	start := time.Now()
	take := func() error {
		t0 := time.Now()
		slog.Debug("snapshot: frozen", "container", o.ContainerID, "after", t0.Sub(start))
		var err error
		if layer, err = src.write(o, o.Frozen != nil); err != nil {
			return err
		}
		slog.Debug("snapshot: layer written", "container", o.ContainerID, "layer", layer.ID, "bytes", layer.UncompressedSize, "took", time.Since(t0))
		id, err := commitLayer(ctx, o, src.baseTop, layer)
		imgID = id
		return err
	}
	if o.Frozen != nil {
		err = o.Frozen(take)
	} else {
		err = take()
	}
	if err != nil {
		return "", fmt.Errorf("snapshot %s: %w", o.ContainerID, err)
	}
	slog.Debug("snapshot: done", "container", o.ContainerID, "took", time.Since(start))
	return imgID, nil
}

// diffSource is a container's overlay layer as Commit and WriteLayer read
// it: the upper and lower folders and the base image's top layer.
type diffSource struct {
	st       storage.Store
	layerID  string
	upper    string
	lowers   []string
	baseTop  string
	baseName string
}

// openDiff finds container o.ContainerID's overlay folders and the top layer
// of o.BaseImage. Errors: storage errors; a driver without an upper folder.
func openDiff(o Options) (*diffSource, error) {
	st := o.Store.Storage()
	c, err := st.Container(o.ContainerID)
	if err != nil {
		return nil, err
	}
	drv, err := st.GraphDriver()
	if err != nil {
		return nil, err
	}
	md, err := drv.Metadata(c.LayerID)
	if err != nil {
		return nil, fmt.Errorf("layer metadata: %w", err)
	}
	d := &diffSource{st: st, layerID: c.LayerID, upper: md["UpperDir"]}
	if d.upper == "" {
		return nil, fmt.Errorf("the storage driver %s has no overlay upper folder", drv.String())
	}
	if md["LowerDir"] != "" {
		d.lowers = strings.Split(md["LowerDir"], ":")
	}
	baseImg, err := st.Image(o.BaseImage)
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", o.BaseImage, err)
	}
	d.baseTop = baseImg.TopLayer
	return d, nil
}

// write writes the diff as a new layer on the base's top layer, named
// pending until an image holds it, so a layer left by a snapshot or build
// step that was killed in between is found (and removed) by the next one of
// the same container; both run under the container's lock. still says the
// container's processes are frozen or stopped, so the upper folder can be
// read by path (tarUpper); otherwise TarWithOptions resolves every path
// inside it.
func (d *diffSource) write(o Options, still bool) (*storage.Layer, error) {
	pending := pendingName(o.ContainerID)
	removePending(o.Store, o.ContainerID)
	drop, err := scanUpper(d.upper, d.lowers, o.Exclude)
	if err != nil {
		return nil, err
	}
	if !nativeDiff(d.st.RunRoot()) {
		return spooledLayer(o.Store, o.ContainerID, d.layerID, d.baseTop, drop, pending)
	}
	// The overlay diff, made from the upper folder the way the overlay
	// driver's native Diff makes it (whiteout devices and opaque folders
	// turned into .wh. entries; tarUpper), streamed straight into a new
	// layer (stage.go). Driver.Diff would hold the layer store's lock until
	// its reader is closed, and writing the layer needs that lock: tarring
	// the folder ourselves needs no spool file. The mount points are left
	// out.
	produce := func(w *chunkWriter) error { return tarUpper(w, d.upper, d.lowers, drop) }
	if !still {
		produce = tarWithOptions(d.upper, d.lowers, drop)
	}
	return writeDiff(d.st, o.ContainerID, d.baseTop, pending, produce)
}

func pendingName(containerID string) string { return "pocketdock-snapshot-pending-" + containerID }

// RemoveLeftovers removes the layer a killed snapshot of container
// containerID left behind (written, but never held by an image), if any. The
// runtime calls it when it removes the container.
func RemoveLeftovers(s *image.Store, containerID string) {
	removePending(s, containerID)
}

// tempPrefix names the temporary OCI layout folders of containerID's snapshots.
func tempPrefix(containerID string) string { return "commit-" + containerID + "-" }

// removePending deletes the layer that a killed snapshot of containerID
// left (named pending), unless an image uses it, its temporary folders and
// its staging folder.
func removePending(s *image.Store, containerID string) {
	dirs, _ := filepath.Glob(filepath.Join(s.TempDir(), tempPrefix(containerID)+"*"))
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	st := s.Storage()
	removeStaging(st, containerID)
	pending := pendingName(containerID)
	l, err := st.Layer(pending)
	if err != nil {
		return
	}
	if err := st.DeleteLayer(l.ID); err != nil {
		if !errors.Is(err, storage.ErrLayerUsedByImage) {
			slog.Warn("snapshot: remove the layer of a killed snapshot", "layer", l.ID, "error", err)
		}
		_ = st.RemoveNames(l.ID, []string{pending})
	}
}

// commitLayer commits layer (on the base's top layer, parent) as image
// o.Name and returns its ID; the layer is removed when no image uses it.
func commitLayer(ctx context.Context, o Options, parent string, layer *storage.Layer) (string, error) {
	st := o.Store.Storage()
	pending := pendingName(o.ContainerID)
	// CommitLayer, like containers/image's storage destination, takes the
	// layer under its chain ID (sha256 of "<parent layer ID>+<diff ID hex>");
	// the layer has that ID as a name (given when it was staged, else now).
	// Another layer with that ID (the same diff on the same parent) would be
	// taken instead, and this one removed below.
	if chain := image.ChainID(parent, layer.UncompressedDigest); slices.Contains(layer.Names, chain) {
		// Named so when it was written.
	} else if err := st.AddNames(layer.ID, []string{chain}); err != nil {
		if derr := st.DeleteLayer(layer.ID); derr != nil {
			slog.Warn("snapshot: remove unused layer", "layer", layer.ID, "error", derr)
		}
		return "", fmt.Errorf("name the new layer: %w", err)
	}
	t1 := time.Now()
	now := time.Now().UTC()
	img, err := o.Store.CommitLayer(ctx, o.BaseImage, image.NewLayer{DiffID: layer.UncompressedDigest, Size: layer.UncompressedSize, TempPrefix: tempPrefix(o.ContainerID)}, o.Name,
		imgspecv1.History{Created: &now, CreatedBy: o.CreatedBy, Comment: o.Comment})
	if err != nil || img.TopLayer != layer.ID {
		// Not used by an image (the commit failed, or it made its own copy): remove it.
		if derr := st.DeleteLayer(layer.ID); derr != nil && !errors.Is(derr, storage.ErrLayerUsedByImage) {
			slog.Warn("snapshot: remove unused layer", "layer", layer.ID, "error", derr)
		}
	}
	if err != nil {
		return "", err
	}
	if img.TopLayer == layer.ID {
		if err := st.RemoveNames(layer.ID, []string{pending}); err != nil {
			slog.Warn("snapshot: unname the new layer", "layer", layer.ID, "error", err)
		}
	}
	slog.Debug("snapshot: committed", "container", o.ContainerID, "image", img.ID, "took", time.Since(t1))
	return img.ID, nil
}

// excludePatterns turns the paths in drop ("/a/b") into exact-match
// exclude patterns of archive.TarWithOptions (relative, glob characters
// escaped); an excluded folder is skipped with all it holds. tarUpper leaves
// out the same paths; the tests compare it with TarWithOptions using these.
func excludePatterns(drop map[string]bool) []string {
	var out []string
	for p := range drop {
		rel := strings.TrimPrefix(p, "/")
		var b strings.Builder
		for _, r := range rel {
			if strings.ContainsRune(`*?[]\`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		out = append(out, b.String())
	}
	sort.Strings(out)
	return out
}

// nativeDiff reports whether the overlay upper folder alone is the diff:
// containers/storage records a failed check as "native-diff(...)-false" in
// its run root (the kernel makes redirects or metacopy-only entries).
func nativeDiff(runRoot string) bool {
	bad, _ := filepath.Glob(filepath.Join(runRoot, "overlay", "native-diff(*)-false"))
	return len(bad) == 0
}

// spooledLayer is the fallback without a native diff: containers/storage's
// Diff of the layer (which compares the mounted trees), filtered, spooled to
// a file (Diff holds the layer store's lock until its reader is closed), then
// written as a new layer on parent.
func spooledLayer(s *image.Store, containerID, layerID, parent string, drop map[string]bool, name string) (*storage.Layer, error) {
	st := s.Storage()
	spool, err := os.CreateTemp(s.TempDir(), tempPrefix(containerID)+"*.tar")
	if err != nil {
		return nil, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	rc, err := st.Diff("", layerID, &storage.DiffOptions{Compression: &uncompressed})
	if err != nil {
		return nil, fmt.Errorf("diff of layer %s: %w", layerID, err)
	}
	err = filterTar(rc, spool, drop)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	layer, _, err := st.PutLayer("", parent, []string{name}, "", false, nil, spool)
	if err != nil {
		return nil, fmt.Errorf("write the new layer: %w", err)
	}
	return layer, nil
}

var uncompressed = archive.Uncompressed

// scanUpper walks the overlay upper folder. It refuses user files named
// .wh.* (naming the first, as the container sees it) and returns the paths
// ("/a/b") to drop from the diff: the mount points in exclude, and their
// parent folders that no lower layer has and that hold nothing else.
func scanUpper(upper string, lowers, exclude []string) (map[string]bool, error) {
	drop := map[string]bool{}
	// candidates: parents of mount points that exist only in the upper layer.
	candidate := map[string]bool{}
	for _, e := range exclude {
		e = path.Clean("/" + e)
		if e == "/" {
			continue
		}
		drop[e] = true
		for p := path.Dir(e); p != "/"; p = path.Dir(p) {
			if !inLowers(lowers, p) {
				candidate[p] = true
			}
		}
	}
	keep := map[string]bool{}
	var bad []string
	err := filepath.WalkDir(upper, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if full == upper {
			return nil
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(full, upper+string(filepath.Separator)))
		if drop[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), archive.WhiteoutPrefix) {
			bad = append(bad, rel)
		}
		if !candidate[rel] {
			for p := path.Dir(rel); p != "/"; p = path.Dir(p) {
				if candidate[p] {
					keep[p] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan the container's changes: %w", err)
	}
	if len(bad) > 0 {
		more := ""
		if len(bad) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(bad)-1)
		}
		return nil, fmt.Errorf("%w: file %q%s: a name starting with %q cannot be stored in an image layer (it would mean a deletion); rename or remove it", ErrInvalidArgument, bad[0], more, archive.WhiteoutPrefix)
	}
	for p := range candidate {
		if !keep[p] {
			drop[p] = true
		}
	}
	return drop, nil
}

// inLowers reports whether container path p exists in any lower layer
// (resolved inside each layer folder, never outside it).
func inLowers(lowers []string, p string) bool {
	for _, l := range lowers {
		full, err := securejoin.SecureJoin(l, p)
		if err != nil {
			continue
		}
		if _, err := os.Lstat(full); err == nil {
			return true
		}
	}
	return false
}

// filterTar copies the tar stream r to w without the entries in drop (and
// anything below them), keeping every header field (PAX xattrs included).
func filterTar(r io.Reader, w io.Writer, drop map[string]bool) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the layer diff: %w", err)
		}
		if dropped(drop, hdr.Name) {
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write the layer: %w", err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("write the layer: %w", err)
		}
	}
	return tw.Close()
}

func dropped(drop map[string]bool, name string) bool {
	p := path.Clean("/" + name)
	for ; p != "/"; p = path.Dir(p) {
		if drop[p] {
			return true
		}
	}
	return false
}
