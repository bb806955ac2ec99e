package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	imgspecs "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/storage"
)

// NewLayer names a layer already in the store (written with the storage's
// PutLayer on the base image's top layer) that CommitLayer puts on top of the
// base image.
type NewLayer struct {
	// DiffID is the layer's uncompressed digest (storage Layer.UncompressedDigest);
	// Size its uncompressed size in bytes.
	DiffID digest.Digest
	Size   int64
	// TempPrefix named the temporary OCI layout folder CommitLayer used to
	// write in TempDir; CommitLayer writes no temporary files any more and
	// ignores it (kept so that callers build unchanged).
	TempPrefix string
}

// TempDir is the store's folder for big temporary files (R/storage/tmp).
func (s *Store) TempDir() string { return s.sys.BigFilesTemporaryDir }

// CommitLayer makes a new image from base (any reference Image accepts) plus
// layer on top of it, the way buildah commits: the base's config with the
// layer's diff ID appended to rootfs.diff_ids, history appended to its
// history and Created set to history.Created (now when nil). The layer must
// be in the store on the base's top layer under its chain ID (as ID or name:
// sha256 of "<parent layer ID>+<diff ID hex>", where containers/image looks
// for it). The image is written into the store the way containers/image's
// storage destination writes one — ID the config digest, the config, the
// manifest (an OCI manifest naming every layer by its diff ID) under
// "manifest-<digest>" and "manifest", metadata "{}", the creation date of
// the config — so it is an ordinary image that exports like any other; no
// layer data is read or copied. name is tagged like Import's tag ("snap" →
// "localhost/snap:latest") and moves from any image holding it. Errors:
// ErrImageNotFound, ErrInvalidArgument (a bad name), store errors.
func (s *Store) CommitLayer(ctx context.Context, base string, layer NewLayer, name string, history imgspecv1.History) (*Image, error) {
	d, err := s.prepareCommit(base, layer, name, history)
	if err != nil {
		return nil, err
	}
	out, err := s.writeImage(d)
	if err != nil {
		return nil, fmt.Errorf("commit %s on %s: %w", d.tagged, d.base.ID, err)
	}
	return s.describe(out)
}

// prepareCommit makes the config and manifest CommitLayer writes.
func (s *Store) prepareCommit(base string, layer NewLayer, name string, history imgspecv1.History) (*newImage, error) {
	tagged, err := normalizeTag(name)
	if err != nil {
		return nil, err
	}
	img, err := s.lookup(base)
	if err != nil {
		return nil, err
	}
	cfgBytes, err := s.configBlob(img)
	if err != nil {
		return nil, fmt.Errorf("read config of image %s: %w", img.ID, err)
	}
	if cfgBytes == nil {
		return nil, fmt.Errorf("%w: image %s has no config (Docker schema 1); it cannot be committed on", ErrInvalidArgument, img.ID)
	}
	// Keep every field of the base config, change only the ones we own.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(cfgBytes, &raw); err != nil {
		return nil, fmt.Errorf("parse config of image %s: %w", img.ID, err)
	}
	var cfg imgspecv1.Image
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return nil, fmt.Errorf("parse config of image %s: %w", img.ID, err)
	}
	now := time.Now().UTC()
	if history.Created == nil {
		history.Created = &now
	}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, layer.DiffID)
	cfg.History = append(cfg.History, history)
	for k, v := range map[string]any{"created": history.Created, "rootfs": cfg.RootFS, "history": cfg.History} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		raw[k] = b
	}
	newCfg, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}

	// The base layers, bottom first; the manifest names them by diff ID so
	// the store's copy reuses them instead of reading them.
	var chain []string
	for id := img.TopLayer; id != ""; {
		l, err := s.store.Layer(id)
		if err != nil {
			return nil, fmt.Errorf("layer %s of image %s: %w", id, img.ID, err)
		}
		chain = append([]string{id}, chain...)
		id = l.Parent
	}
	if len(chain) != len(cfg.RootFS.DiffIDs)-1 {
		return nil, fmt.Errorf("image %s: %d layers but %d diff IDs in its config", img.ID, len(chain), len(cfg.RootFS.DiffIDs)-1)
	}
	var layers []imgspecv1.Descriptor
	for i, id := range chain {
		l, err := s.store.Layer(id)
		if err != nil {
			return nil, err
		}
		size := l.UncompressedSize
		if size < 0 {
			size = 0
		}
		layers = append(layers, imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageLayer, Digest: cfg.RootFS.DiffIDs[i], Size: size})
	}
	layers = append(layers, imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageLayer, Digest: layer.DiffID, Size: layer.Size})

	cfgDigest := digest.FromBytes(newCfg)
	man := imgspecv1.Manifest{
		Versioned: imgspecs.Versioned{SchemaVersion: 2},
		MediaType: imgspecv1.MediaTypeImageManifest,
		Config:    imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(newCfg))},
		Layers:    layers,
	}
	manBytes, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	// The creation date as containers/image reads it back from the config.
	var created time.Time
	if err := json.Unmarshal(raw["created"], &created); err != nil {
		return nil, err
	}
	return &newImage{tagged: tagged, base: img, diffID: layer.DiffID, config: newCfg, manifest: manBytes, created: created}, nil
}

// newImage is what CommitLayer writes: the config and manifest of an image
// whose top layer has diffID on base's top layer.
type newImage struct {
	tagged           reference.Named
	base             *storage.Image
	diffID           digest.Digest
	config, manifest []byte
	created          time.Time
}

// writeImage writes d into the store as containers/image's storage
// destination commits an image (storage_dest.go CommitWithOptions): the
// top layer found under its chain ID, CreateImage with ID the config's
// digest, the config under its digest, the manifest under
// "manifest-<digest>" and "manifest", metadata "{}", the config's creation
// date; an image of that ID already there (the same config) is reused if it
// has the same top layer. Then the name is added (and so moved from any
// other image).
func (s *Store) writeImage(d *newImage) (*storage.Image, error) {
	chain := chainID(d.base.TopLayer, d.diffID)
	top, err := s.store.Layer(chain)
	if err != nil {
		return nil, fmt.Errorf("the new layer %s (chain ID %s): %w", d.diffID, chain, err)
	}
	if top.Parent != d.base.TopLayer || top.UncompressedDigest != d.diffID {
		return nil, fmt.Errorf("layer %s under chain ID %s has parent %q and diff ID %s, want %q and %s", top.ID, chain, top.Parent, top.UncompressedDigest, d.base.TopLayer, d.diffID)
	}
	cfgDigest := digest.FromBytes(d.config)
	manDigest := digest.FromBytes(d.manifest)
	opts := &storage.ImageOptions{
		CreationDate: d.created,
		BigData: []storage.ImageBigDataOption{
			{Key: cfgDigest.String(), Data: d.config, Digest: cfgDigest},
			{Key: storage.ImageDigestManifestBigDataNamePrefix + "-" + manDigest.String(), Data: d.manifest, Digest: manDigest},
			{Key: storage.ImageDigestBigDataKey, Data: d.manifest, Digest: manDigest},
		},
		Metadata: "{}",
	}
	id := cfgDigest.Encoded()
	// The name goes on with CreateImage when no image holds it (one write
	// of the image list less); else AddNames below moves it.
	var names []string
	if _, err := s.store.Image(d.tagged.String()); errors.Is(err, storage.ErrImageUnknown) {
		names = []string{d.tagged.String()}
	}
	img, err := s.store.CreateImage(id, names, top.ID, "", opts)
	if errors.Is(err, storage.ErrDuplicateName) {
		// Taken meanwhile; CreateImage checks names before it writes.
		img, err = s.store.CreateImage(id, nil, top.ID, "", opts)
	}
	fresh := err == nil
	if errors.Is(err, storage.ErrDuplicateID) {
		if img, err = s.store.Image(id); err != nil {
			return nil, err
		}
		if img.TopLayer != top.ID {
			return nil, fmt.Errorf("image %s already exists on top layer %s, not %s: %w", id, img.TopLayer, top.ID, storage.ErrDuplicateID)
		}
		for _, b := range opts.BigData {
			if err := s.store.SetImageBigData(id, b.Key, b.Data, manifest.Digest); err != nil {
				return nil, err
			}
		}
		if err := s.store.SetMetadata(id, opts.Metadata); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if slices.Contains(img.Names, d.tagged.String()) {
		return img, nil
	}
	if err := s.store.AddNames(img.ID, []string{d.tagged.String()}); err != nil {
		if fresh {
			if _, derr := s.store.DeleteImage(img.ID, true); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		return nil, err
	}
	return s.store.Image(img.ID)
}

// chainID is the ID containers/image gives a layer with uncompressed digest
// diffID on parent ("" for none): the diff ID's hex alone without a parent,
// else the hex sha256 of "<parent>+<diff ID hex>".
func chainID(parent string, diffID digest.Digest) string {
	if parent == "" {
		return diffID.Encoded()
	}
	return digest.Canonical.FromString(parent + "+" + diffID.Encoded()).Encoded()
}

// ValidateTag checks an image name as CommitLayer and Import's tag take it
// ("snap" → localhost/snap:latest); ErrInvalidArgument naming it otherwise.
func ValidateTag(tag string) error {
	_, err := normalizeTag(tag)
	return err
}
