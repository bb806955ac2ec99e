package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/storage"
	"golang.org/x/sys/unix"
)

// The store helpers of the Dockerfile builder (package image/build): untagged
// step images that carry their build-cache key, read-only image mounts,
// layers written from a tar stream, and tagging.

// buildCachePrefix starts the name of the big-data item that marks an image
// as a build step's result; the rest of the name is the step's cache key
// (hex). Big-data items are never exported, so the mark stays local.
const buildCachePrefix = "pocketdock-build-cache-"

// buildResultKey names the big-data item that marks an image as the result
// of a whole build made without tags (its last step), so List shows it
// untagged — docker images shows such an image as <none> — and
// PruneBuildCache keeps it (remove it by ID).
const buildResultKey = "pocketdock-build-result"

// MarkBuildResult marks image id as the result of an untagged build
// (buildResultKey).
// Errors: ErrImageNotFound (wrapped) when there is no such image.
func (s *Store) MarkBuildResult(id string) error {
	if err := s.store.SetImageBigData(id, buildResultKey, []byte("1"), nil); err != nil {
		if errors.Is(err, storage.ErrImageUnknown) {
			return fmt.Errorf("mark build result: %w", notFound(id, err))
		}
		return fmt.Errorf("mark build result %s: %w", id, err)
	}
	return nil
}

// BuildCommit says what CommitBuild makes.
type BuildCommit struct {
	// Base is the parent image's ID; "" means scratch (no layers, a config
	// for linux on this machine's architecture).
	Base string
	// Layer, when non-nil, is a layer already in the store on the base's top
	// layer (storage PutLayer) that becomes the new image's top layer; nil
	// makes a config-only image on the base's layers.
	Layer *NewLayer
	// Config is the new image's "config" object (the OCI/Docker image config's
	// run configuration: Env, User, WorkingDir, Cmd, Entrypoint, Labels,
	// ExposedPorts, Volumes, StopSignal, Healthcheck, Shell, …); it replaces
	// the base's. Every other field of the base config is kept.
	Config json.RawMessage
	// History entries are appended to the base's history (Created set to
	// now when nil).
	History []imgspecv1.History
	// CacheKey (hex, "" = none) is recorded on the image so FindBuildCache
	// finds it. An image with a cache key and no name is a build
	// intermediate: List leaves it out.
	CacheKey string
}

// CommitBuild makes an untagged image from c, written into the store the way
// CommitLayer writes one (so it exports like any image and no layer
// data is copied), and returns it. The image ID is the digest of its config.
// Errors: ErrImageNotFound (base), ErrInvalidArgument (a base without a
// config), ctx errors, store errors.
func (s *Store) CommitBuild(ctx context.Context, c BuildCommit) (*Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := &baseImage{raw: map[string]json.RawMessage{}}
	if c.Base != "" {
		var err error
		if b, err = s.readBase(c.Base, "built"); err != nil {
			return nil, err
		}
	}
	now := time.Now().UTC()
	added := slices.Clone(c.History)
	for i := range added {
		if added[i].Created == nil {
			added[i].Created = &now
		}
	}
	created := now
	if n := len(added); n > 0 {
		created = *added[n-1].Created
	}
	fields := map[string]any{
		"created": created,
		"history": append(slices.Clone(b.cfg.History), added...),
	}
	if b.img == nil {
		fields["architecture"], fields["os"] = goruntime.GOARCH, "linux"
	}
	if c.Config != nil {
		fields["config"] = c.Config
	}
	d, err := s.compose(b, c.Layer, fields)
	if err != nil {
		return nil, err
	}
	if c.CacheKey != "" {
		d.extra = []storage.ImageBigDataOption{{Key: buildCachePrefix + c.CacheKey, Data: []byte(c.CacheKey)}}
	}
	out, err := s.writeImage(d)
	if err != nil {
		return nil, fmt.Errorf("commit build step on %s: %w", c.Base, err)
	}
	return s.describe(out)
}

// FindBuildCache returns the image recorded (by CommitBuild) under cache key
// key, or nil when there is none.
func (s *Store) FindBuildCache(key string) (*Image, error) {
	images, err := s.store.Images()
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	for i := range images {
		if slices.Contains(images[i].BigDataNames, buildCachePrefix+key) {
			return s.describe(&images[i])
		}
	}
	return nil, nil
}

// isBuildIntermediate reports whether img is a build step's untagged result
// (a cache entry), which List leaves out; the result of an untagged build
// (MarkBuildResult) is not one.
func isBuildIntermediate(img *storage.Image) bool {
	if len(img.Names) > 0 || slices.Contains(img.BigDataNames, buildResultKey) {
		return false
	}
	for _, n := range img.BigDataNames {
		if strings.HasPrefix(n, buildCachePrefix) {
			return true
		}
	}
	return false
}

// PruneBuildCache removes the untagged build intermediates (the build cache)
// that no container uses, and returns how many images it removed.
func (s *Store) PruneBuildCache() (int, error) {
	// Removing an image can make its parent's layers removable only after
	// the child is gone; images have no parent links, so one pass suffices.
	images, err := s.store.Images()
	if err != nil {
		return 0, fmt.Errorf("list images: %w", err)
	}
	n := 0
	var errs []error
	for i := range images {
		if !isBuildIntermediate(&images[i]) {
			continue
		}
		if _, err := s.store.DeleteImage(images[i].ID, true); err != nil {
			if !errors.Is(err, storage.ErrImageUsedByContainer) {
				errs = append(errs, fmt.Errorf("remove build cache image %s: %w", images[i].ID, err))
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// AddTags gives image id the names tags (each normalized like Import's tag:
// "app" → localhost/app:latest), taking each from any image that held it.
// All tags are checked first: ErrInvalidArgument naming a bad one, and
// nothing changes.
func (s *Store) AddTags(id string, tags []string) error {
	var names []string
	for _, t := range tags {
		n, err := normalizeTag(t)
		if err != nil {
			return err
		}
		names = append(names, n.String())
	}
	if len(names) == 0 {
		return nil
	}
	if err := s.store.AddNames(id, names); err != nil {
		return fmt.Errorf("tag image %s: %w", id, err)
	}
	return nil
}

// ConfigJSON returns the full image config JSON (OCI or Docker v2) of the
// image ref names (see Image), or nil for an image without one.
func (s *Store) ConfigJSON(ref string) ([]byte, error) {
	img, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	return s.configBlob(img)
}

// MountImage mounts image id read-only and returns the mount point and a
// function that unmounts it (call it exactly once). The mount is recorded
// (markImageMount) so that when this process is killed before unmounting,
// the next process to open the store unmounts it.
func (s *Store) MountImage(id string) (string, func(), error) {
	marker, err := s.markImageMount(id)
	if err != nil {
		return "", nil, fmt.Errorf("mount image %s: %w", id, err)
	}
	dir, err := s.store.MountImage(id, nil, "")
	if err != nil {
		os.Remove(marker)
		return "", nil, fmt.Errorf("mount image %s: %w", id, err)
	}
	return dir, func() {
		if _, err := s.store.UnmountImage(id, false); err != nil {
			slog.Warn("unmount image", "image", id, "error", err)
		}
		os.Remove(marker)
	}, nil
}

// PutLayer writes the uncompressed tar stream diff as a new layer on image
// base's top layer (base "" = no parent) and returns it for CommitBuild. The
// layer gets its chain ID as a name, so the commit reuses it instead of
// copying it, and a pending name with this process's ID until BuildCommitted:
// RemoveStaleBuildLayers removes it if this process dies before. Remove it
// with DeleteLayer when it is not committed.
func (s *Store) PutLayer(base string, diff io.Reader) (*NewLayer, string, error) {
	parent := ""
	if base != "" {
		img, err := s.lookup(base)
		if err != nil {
			return nil, "", err
		}
		parent = img.TopLayer
	}
	l, _, err := s.store.PutLayer("", parent, []string{buildPendingName()}, "", false, nil, diff)
	if err != nil {
		return nil, "", fmt.Errorf("write the new layer: %w", err)
	}
	if err := s.store.AddNames(l.ID, []string{ChainID(parent, l.UncompressedDigest)}); err != nil {
		s.DeleteLayer(l.ID)
		return nil, "", fmt.Errorf("name the new layer: %w", err)
	}
	return &NewLayer{DiffID: l.UncompressedDigest, Size: l.UncompressedSize}, l.ID, nil
}

// DeleteLayer removes layer id unless an image uses it (then it is no error).
func (s *Store) DeleteLayer(id string) {
	if err := s.store.DeleteLayer(id); err != nil && !errors.Is(err, storage.ErrLayerUsedByImage) && !errors.Is(err, storage.ErrLayerUnknown) {
		slog.Warn("remove unused layer", "layer", id, "error", err)
	}
}

// ChainID is the ID containers/image gives a layer with uncompressed digest
// diffID on parent ("" for none): the diff ID's hex alone without a parent,
// else the hex sha256 of "<parent>+<diff ID hex>".
func ChainID(parent string, diffID digest.Digest) string {
	if parent == "" {
		return diffID.Encoded()
	}
	return digest.Canonical.FromString(parent + "+" + diffID.Encoded()).Encoded()
}

// buildPendingPrefix starts the name a layer written by PutLayer carries
// until an image holds it: the prefix, the writer's PID, "-", a random part.
const buildPendingPrefix = "pocketdock-build-pending-"

func buildPendingName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%d-%s", buildPendingPrefix, os.Getpid(), hex.EncodeToString(b[:]))
}

// BuildCommitted drops the pending name of layer id (see PutLayer) once an
// image holds it.
func (s *Store) BuildCommitted(id string) {
	l, err := s.store.Layer(id)
	if err != nil {
		return
	}
	for _, n := range l.Names {
		if strings.HasPrefix(n, buildPendingPrefix) {
			if err := s.store.RemoveNames(id, []string{n}); err != nil {
				slog.Warn("unname a build layer", "layer", id, "error", err)
			}
		}
	}
}

// RemoveStaleBuildLayers removes the layers that builds of processes no
// longer alive wrote but never committed (see PutLayer); a layer an image
// took only loses its pending name.
func (s *Store) RemoveStaleBuildLayers() {
	layers, err := s.store.Layers()
	if err != nil {
		return
	}
	for _, l := range layers {
		for _, n := range l.Names {
			rest, ok := strings.CutPrefix(n, buildPendingPrefix)
			if !ok {
				continue
			}
			pidText, _, _ := strings.Cut(rest, "-")
			pid, err := strconv.Atoi(pidText)
			if err != nil || pid <= 0 || unix.Kill(pid, 0) == nil || pid == os.Getpid() {
				continue // alive (or ours): its build is still under way
			}
			if err := s.store.DeleteLayer(l.ID); err != nil {
				_ = s.store.RemoveNames(l.ID, []string{n})
			}
		}
	}
}
