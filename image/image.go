package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/storage"
)

// Config is the part of an image's configuration (the OCI image config or
// Docker v2 config JSON, field "config") that pocketdock runs containers
// with. Fields absent from the image are zero.
type Config struct {
	// Env is the environment, "KEY=value" entries in image order.
	Env []string
	// User is the user to run as: "name", "uid", "name:group" or
	// "uid:gid" as the image states it; "" means root.
	User string
	// WorkingDir is the absolute working directory; "" means "/".
	WorkingDir string
	// Cmd is the default command (arguments of Entrypoint when both are set).
	Cmd []string
	// Entrypoint is the image's entrypoint argv, or nil.
	Entrypoint []string
	// Labels are the image's labels (nil when none).
	Labels map[string]string
	// StopSignal is the signal name or number the image asks to be
	// stopped with ("SIGTERM", "15"), or "".
	StopSignal string
}

// Image describes one local image in the store.
type Image struct {
	// ID is the image ID: 64 lowercase hex digits (the config digest's hex
	// for images copied by containers/image).
	ID string
	// Names are the image's full, normalized names, such as
	// "docker.io/pocketdock/busybox:latest" or "localhost/app:1"; may be
	// empty for an untagged image.
	Names []string
	// Digest is the manifest digest ("sha256:..."), or "" when unknown.
	Digest string
	// Size is the image's size on disk in bytes: uncompressed layers plus
	// metadata; -1 when it could not be computed.
	Size int64
	// Created is the creation time from the image config, or the time it
	// was stored when the config has none.
	Created time.Time
	// TopLayer is the ID of the image's top containers/storage layer ("" for
	// an image without layers).
	TopLayer string
	// Config is the run configuration from the image config.
	Config Config
}

// ociConfig is the subset of the OCI / Docker v2 image config JSON we read.
type ociConfig struct {
	Created *time.Time `json:"created,omitempty"`
	Config  struct {
		Env        []string          `json:"Env"`
		User       string            `json:"User"`
		WorkingDir string            `json:"WorkingDir"`
		Cmd        []string          `json:"Cmd"`
		Entrypoint []string          `json:"Entrypoint"`
		Labels     map[string]string `json:"Labels"`
		StopSignal string            `json:"StopSignal"`
	} `json:"config"`
}

// describe turns a storage image into an Image, reading its manifest and
// config big-data items (two small files) and its size from layer metadata.
func (s *Store) describe(img *storage.Image) (*Image, error) {
	out := &Image{
		ID:       img.ID,
		Names:    slices.Clone(img.Names),
		Digest:   img.Digest.String(),
		Created:  img.Created,
		TopLayer: img.TopLayer,
		Size:     -1,
	}
	if size, err := s.store.ImageSize(img.ID); err == nil {
		out.Size = size
	}
	cfgBytes, err := s.configBlob(img)
	if err != nil {
		return nil, fmt.Errorf("read config of image %s: %w", img.ID, err)
	}
	if cfgBytes == nil {
		return out, nil
	}
	var cfg ociConfig
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return nil, fmt.Errorf("parse config of image %s: %w", img.ID, err)
	}
	if cfg.Created != nil && !cfg.Created.IsZero() {
		out.Created = *cfg.Created
	}
	out.Config = Config{
		Env:        cfg.Config.Env,
		User:       cfg.Config.User,
		WorkingDir: cfg.Config.WorkingDir,
		Cmd:        cfg.Config.Cmd,
		Entrypoint: cfg.Config.Entrypoint,
		Labels:     cfg.Config.Labels,
		StopSignal: cfg.Config.StopSignal,
	}
	return out, nil
}

// configBlob returns the image's config JSON, located through the manifest
// (its "config.digest", the big-data key containers/image stores the config
// under). It returns nil, nil for an image without a config (Docker schema 1).
func (s *Store) configBlob(img *storage.Image) ([]byte, error) {
	man, err := s.store.ImageBigData(img.ID, storage.ImageDigestBigDataKey)
	if err != nil {
		// No manifest recorded: fall back to the conventional key.
		if b, err2 := s.store.ImageBigData(img.ID, "sha256:"+img.ID); err2 == nil {
			return b, nil
		}
		return nil, err
	}
	var m struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	if err := json.Unmarshal(man, &m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	if m.Config.Digest == "" {
		return nil, nil
	}
	return s.store.ImageBigData(img.ID, m.Config.Digest)
}

// Image returns the local image that ref names, never pulling. ref may be a
// full image ID (optionally "sha256:"-prefixed), a unique ID prefix of at
// least 3 hex digits, an exact stored name, a full reference (normalized like
// docker: "docker.io/library/alpine" = "alpine" with its registry spelled
// out), or a short name, which matches localhost/NAME, each unqualified-search
// registry's NAME and docker.io/NAME (docker.io/library/NAME for one path
// component), in that order; a missing tag means "latest". Errors:
// ErrImageNotFound when nothing matches; ErrInvalidArgument when ref is not a
// valid reference or is an ambiguous ID prefix.
func (s *Store) Image(ref string) (*Image, error) {
	img, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	return s.describe(img)
}

// lookup finds the local storage image for ref (see Image for the rules).
func (s *Store) lookup(ref string) (*storage.Image, error) {
	ref = strings.TrimPrefix(ref, "docker://")
	if ref == "" {
		return nil, fmt.Errorf("image reference %q: %w: empty (want an image ID, ID prefix or name)", ref, ErrInvalidArgument)
	}
	images, err := s.store.Images()
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}

	// 1. Full ID.
	id := strings.TrimPrefix(ref, "sha256:")
	if isHex(id) && len(id) == 64 {
		for i := range images {
			if images[i].ID == id {
				return &images[i], nil
			}
		}
		return nil, notFound(ref, errors.New("no local image has this ID"))
	}
	// 2. Exact stored name.
	for i := range images {
		if slices.Contains(images[i].Names, ref) {
			return &images[i], nil
		}
	}
	// 3. Full (non-short) reference, normalized.
	short := isShortName(ref)
	named, parseErr := reference.ParseNormalizedNamed(ref)
	if parseErr == nil && !short {
		if img := matchNamed(images, reference.TagNameOnly(named)); img != nil {
			return img, nil
		}
	}
	// 4. Unique ID prefix.
	if len(id) >= 3 && isHex(id) {
		var hits []*storage.Image
		for i := range images {
			if strings.HasPrefix(images[i].ID, id) {
				hits = append(hits, &images[i])
			}
		}
		if len(hits) == 1 {
			return hits[0], nil
		}
		if len(hits) > 1 {
			return nil, fmt.Errorf("image reference %q: %w: ambiguous ID prefix matching %d images (give more digits)", ref, ErrInvalidArgument, len(hits))
		}
	}
	if parseErr != nil {
		return nil, fmt.Errorf("image reference %q: %w: %v (want an image ID, ID prefix or a name like [registry/]repo[:tag])", ref, ErrInvalidArgument, parseErr)
	}
	if !short {
		return nil, notFound(ref, errors.New("no local image has this name"))
	}
	// 5. Short name: localhost, search registries, docker.io.
	for _, cand := range s.shortNameCandidates(ref, true) {
		if img := matchNamed(images, cand); img != nil {
			return img, nil
		}
	}
	return nil, notFound(ref, errors.New("no local image matches this name"))
}

// matchNamed returns the image carrying named (tagged: exact name; digested:
// same repository and manifest digest).
func matchNamed(images []storage.Image, named reference.Named) *storage.Image {
	if d, ok := named.(reference.Digested); ok {
		repo := named.Name()
		for i := range images {
			if !slices.Contains(images[i].Digests, d.Digest()) && images[i].Digest != d.Digest() {
				continue
			}
			for _, n := range images[i].Names {
				if pn, err := reference.ParseNormalizedNamed(n); err == nil && pn.Name() == repo {
					return &images[i]
				}
			}
		}
		return nil
	}
	want := named.String()
	for i := range images {
		if slices.Contains(images[i].Names, want) {
			return &images[i]
		}
	}
	return nil
}

// shortNameCandidates returns the full references a short name may mean,
// tags defaulting to "latest".
//
// For a local lookup (local true): the registries.conf alias if any, then
// localhost/NAME, each unqualified-search registry's NAME, and docker.io/NAME
// (docker.io/library/NAME for one path component) — archives imported from
// docker save carry docker.io names whatever the configuration says.
//
// For a pull: the alias alone when there is one, else the unqualified-search
// registries in order, else (none configured, as with the built-in
// defaults) docker.io.
func (s *Store) shortNameCandidates(ref string, local bool) []reference.Named {
	var out []reference.Named
	add := func(s string) {
		n, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			return
		}
		n = reference.TagNameOnly(n)
		for _, o := range out {
			if o.String() == n.String() {
				return
			}
		}
		out = append(out, n)
	}
	// Aliases (short-name-aliases in registries.conf) apply to the bare
	// repository; the tag or digest of ref is carried over.
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		repo := reference.FamiliarName(named)
		suffix := strings.TrimPrefix(reference.FamiliarString(named), repo)
		if alias, _, err := sysregistriesv2.ResolveShortNameAlias(&s.sys, repo); err == nil && alias != nil {
			add(alias.String() + suffix)
			if !local && len(out) > 0 {
				return out
			}
		}
	}
	if local {
		add("localhost/" + ref)
	}
	regs, _ := sysregistriesv2.UnqualifiedSearchRegistries(&s.sys)
	for _, r := range regs {
		add(r + "/" + ref)
	}
	if local || len(regs) == 0 {
		add("docker.io/" + ref)
	}
	return out
}

// isShortName reports whether ref has no registry part: its first
// path component has no '.' or ':' and is not "localhost" (docker's rule).
func isShortName(ref string) bool {
	i := strings.IndexByte(ref, '/')
	if i < 0 {
		return true
	}
	first := ref[:i]
	return !strings.ContainsAny(first, ".:") && first != "localhost"
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// notFound builds the ErrImageNotFound error for ref, wrapping cause.
func notFound(ref string, cause error) error {
	return fmt.Errorf("%w: %q: %w", ErrImageNotFound, ref, cause)
}

// List returns every local image, newest first (by Created), leaving out the
// untagged intermediates of builds (their cache). A damaged image whose
// manifest or config cannot be read is listed with its ID, names and
// creation time only (Size -1, empty Config). Errors come from reading
// the store.
func (s *Store) List() ([]*Image, error) {
	images, err := s.store.Images()
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]*Image, 0, len(images))
	for i := range images {
		if isBuildIntermediate(&images[i]) {
			continue // the build cache (see CommitBuild)
		}
		d, err := s.describe(&images[i])
		if err != nil {
			// A damaged image (a killed copy leaves one without a manifest)
			// is listed with what storage knows, so it can be removed by ID.
			slog.Warn("list images: damaged image", "id", images[i].ID, "error", err)
			d = &Image{ID: images[i].ID, Names: slices.Clone(images[i].Names), Digest: images[i].Digest.String(),
				Size: -1, Created: images[i].Created, TopLayer: images[i].TopLayer}
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b *Image) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// Remove removes a local image. When ref names the image by one of several
// names, only that name is removed (like docker rmi); otherwise (by ID, or
// its last name) the image and its now-unused layers are deleted. Errors:
// ErrImageNotFound; ErrImageInUse (naming the storage containers) when a
// container's root filesystem is based on the image; ErrInvalidArgument for
// a malformed or ambiguous ref.
func (s *Store) Remove(ref string) error {
	img, err := s.lookup(ref)
	if err != nil {
		return fmt.Errorf("remove image: %w", err)
	}
	if name := s.matchedName(img, ref); name != "" && len(img.Names) > 1 {
		if err := s.store.RemoveNames(img.ID, []string{name}); err != nil {
			if errors.Is(err, storage.ErrLayerUnknown) || errors.Is(err, storage.ErrImageUnknown) {
				// Deleted by another process since the lookup.
				return fmt.Errorf("remove image: %w", notFound(ref, err))
			}
			return fmt.Errorf("remove image name %q: %w", name, err)
		}
		return nil
	}
	containers, err := s.store.Containers()
	if err != nil {
		return fmt.Errorf("remove image %q: %w", ref, err)
	}
	var users []string
	for _, c := range containers {
		if c.ImageID == img.ID {
			users = append(users, c.ID)
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("remove image %q (%s): %w: containers %s", ref, img.ID, ErrImageInUse, strings.Join(users, ", "))
	}
	if _, err := s.store.DeleteImage(img.ID, true); err != nil {
		if errors.Is(err, storage.ErrImageUsedByContainer) {
			return fmt.Errorf("remove image %q (%s): %w: %w", ref, img.ID, ErrImageInUse, err)
		}
		if errors.Is(err, storage.ErrImageUnknown) || errors.Is(err, storage.ErrNotAnImage) {
			// Deleted by another process since the lookup.
			return fmt.Errorf("remove image: %w", notFound(ref, err))
		}
		return fmt.Errorf("remove image %q (%s): %w", ref, img.ID, err)
	}
	return nil
}

// matchedName returns which of img's names ref designates, or "" when ref
// selected it by ID.
func (s *Store) matchedName(img *storage.Image, ref string) string {
	ref = strings.TrimPrefix(ref, "docker://")
	if slices.Contains(img.Names, ref) {
		return ref
	}
	id := strings.TrimPrefix(ref, "sha256:")
	if isHex(id) && strings.HasPrefix(img.ID, id) && len(id) >= 3 {
		return ""
	}
	var cands []reference.Named
	if isShortName(ref) {
		cands = s.shortNameCandidates(ref, true)
	} else if n, err := reference.ParseNormalizedNamed(ref); err == nil {
		cands = []reference.Named{reference.TagNameOnly(n)}
	}
	for _, c := range cands {
		if slices.Contains(img.Names, c.String()) {
			return c.String()
		}
	}
	return ""
}
