package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
		return nil, fmt.Errorf("commit %s on %s: %w", d.tagged, base, err)
	}
	return s.describe(out)
}

// prepareCommit makes the config and manifest CommitLayer writes.
func (s *Store) prepareCommit(base string, layer NewLayer, name string, history imgspecv1.History) (*newImage, error) {
	tagged, err := normalizeTag(name)
	if err != nil {
		return nil, err
	}
	b, err := s.readBase(base, "committed")
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if history.Created == nil {
		history.Created = &now
	}
	d, err := s.compose(b, &layer, map[string]any{
		"created": history.Created,
		"history": append(slices.Clone(b.cfg.History), history),
	})
	if err != nil {
		return nil, err
	}
	d.tagged = tagged
	return d, nil
}

// baseImage is what a commit keeps of its base: the image (nil = scratch),
// its config with every field kept raw and parsed, and its layers (bottom
// first, one per diff ID of the config).
type baseImage struct {
	img   *storage.Image
	raw   map[string]json.RawMessage
	cfg   imgspecv1.Image
	chain []string
}

// readBase reads image ref's config and layer chain. verb ends the error
// for an image without a config ("it cannot be <verb> on"). Errors:
// ErrImageNotFound, ErrInvalidArgument (no config), store errors, a layer
// count that differs from the config's diff IDs.
func (s *Store) readBase(ref, verb string) (*baseImage, error) {
	img, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	cfgBytes, err := s.configBlob(img)
	if err != nil {
		return nil, fmt.Errorf("read config of image %s: %w", img.ID, err)
	}
	if cfgBytes == nil {
		return nil, fmt.Errorf("%w: image %s has no config (Docker schema 1); it cannot be %s on", ErrInvalidArgument, img.ID, verb)
	}
	b := &baseImage{img: img}
	if err := json.Unmarshal(cfgBytes, &b.raw); err != nil {
		return nil, fmt.Errorf("parse config of image %s: %w", img.ID, err)
	}
	if err := json.Unmarshal(cfgBytes, &b.cfg); err != nil {
		return nil, fmt.Errorf("parse config of image %s: %w", img.ID, err)
	}
	for id := img.TopLayer; id != ""; {
		l, err := s.store.Layer(id)
		if err != nil {
			return nil, fmt.Errorf("layer %s of image %s: %w", id, img.ID, err)
		}
		b.chain = append([]string{id}, b.chain...)
		id = l.Parent
	}
	if len(b.chain) != len(b.cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image %s: %d layers but %d diff IDs in its config", img.ID, len(b.chain), len(b.cfg.RootFS.DiffIDs))
	}
	return b, nil
}

// compose makes the config and manifest of an image on b's layers plus
// layer (nil = none): b's config with rootfs set and the given fields
// ("created" is required) replaced, every other field kept. The manifest
// names every layer by its diff ID. Errors: ErrInvalidArgument for an image
// with no layer at all.
func (s *Store) compose(b *baseImage, layer *NewLayer, fields map[string]any) (*newImage, error) {
	d := &newImage{}
	raw := map[string]json.RawMessage{}
	var diffIDs []digest.Digest
	var layers []imgspecv1.Descriptor
	if b.img != nil {
		d.parentTop = b.img.TopLayer
		raw = maps.Clone(b.raw)
		diffIDs = slices.Clone(b.cfg.RootFS.DiffIDs)
		for i, id := range b.chain {
			l, err := s.store.Layer(id)
			if err != nil {
				return nil, err
			}
			layers = append(layers, imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageLayer, Digest: diffIDs[i], Size: max(l.UncompressedSize, 0)})
		}
	}
	if layer != nil {
		d.diffID = layer.DiffID
		diffIDs = append(diffIDs, layer.DiffID)
		layers = append(layers, imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageLayer, Digest: layer.DiffID, Size: layer.Size})
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("%w: an image without any layer (FROM scratch with no COPY or ADD) cannot be stored", ErrInvalidArgument)
	}
	fields["rootfs"] = imgspecv1.RootFS{Type: "layers", DiffIDs: diffIDs}
	for k, v := range fields {
		j, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		raw[k] = j
	}
	var err error
	if d.config, err = json.Marshal(raw); err != nil {
		return nil, err
	}
	cfgDigest := digest.FromBytes(d.config)
	d.manifest, err = json.Marshal(imgspecv1.Manifest{
		Versioned: imgspecs.Versioned{SchemaVersion: 2},
		MediaType: imgspecv1.MediaTypeImageManifest,
		Config:    imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(d.config))},
		Layers:    layers,
	})
	if err != nil {
		return nil, err
	}
	// The creation date as containers/image reads it back from the config.
	if err := json.Unmarshal(raw["created"], &d.created); err != nil {
		return nil, fmt.Errorf("the new config's created: %w", err)
	}
	return d, nil
}

// newImage is what writeImage writes: the config and manifest of an image
// on the layer parentTop ("" = none), plus, when diffID is set, the new top
// layer with that diff ID on parentTop; tagged (nil = untagged) is its name,
// extra more big-data items.
type newImage struct {
	tagged           reference.Named
	parentTop        string
	diffID           digest.Digest
	config, manifest []byte
	created          time.Time
	extra            []storage.ImageBigDataOption
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
	topID := d.parentTop
	if d.diffID != "" {
		chain := ChainID(d.parentTop, d.diffID)
		top, err := s.store.Layer(chain)
		if err != nil {
			return nil, fmt.Errorf("the new layer %s (chain ID %s): %w", d.diffID, chain, err)
		}
		if top.Parent != d.parentTop || top.UncompressedDigest != d.diffID {
			return nil, fmt.Errorf("layer %s under chain ID %s has parent %q and diff ID %s, want %q and %s", top.ID, chain, top.Parent, top.UncompressedDigest, d.parentTop, d.diffID)
		}
		topID = top.ID
	}
	cfgDigest := digest.FromBytes(d.config)
	manDigest := digest.FromBytes(d.manifest)
	opts := &storage.ImageOptions{
		CreationDate: d.created,
		BigData: append([]storage.ImageBigDataOption{
			{Key: cfgDigest.String(), Data: d.config, Digest: cfgDigest},
			{Key: storage.ImageDigestManifestBigDataNamePrefix + "-" + manDigest.String(), Data: d.manifest, Digest: manDigest},
			{Key: storage.ImageDigestBigDataKey, Data: d.manifest, Digest: manDigest},
		}, d.extra...),
		Metadata: "{}",
	}
	id := cfgDigest.Encoded()
	name := ""
	if d.tagged != nil {
		name = d.tagged.String()
	}
	// The name goes on with CreateImage when no image holds it (one write
	// of the image list less); else AddNames below moves it.
	var names []string
	if _, err := s.store.Image(name); name != "" && errors.Is(err, storage.ErrImageUnknown) {
		names = []string{name}
	}
	img, err := s.store.CreateImage(id, names, topID, "", opts)
	if errors.Is(err, storage.ErrDuplicateName) {
		// Taken meanwhile; CreateImage checks names before it writes.
		img, err = s.store.CreateImage(id, nil, topID, "", opts)
	}
	fresh := err == nil
	if errors.Is(err, storage.ErrDuplicateID) {
		if img, err = s.store.Image(id); err != nil {
			return nil, err
		}
		if img.TopLayer != topID {
			return nil, fmt.Errorf("image %s already exists on top layer %s, not %s: %w", id, img.TopLayer, topID, storage.ErrDuplicateID)
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
	if name == "" || slices.Contains(img.Names, name) {
		return img, nil
	}
	if err := s.store.AddNames(img.ID, []string{name}); err != nil {
		if fresh {
			if _, derr := s.store.DeleteImage(img.ID, true); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		return nil, err
	}
	return s.store.Image(img.ID)
}

// ValidateTag checks an image name as CommitLayer and Import's tag take it
// ("snap" → localhost/snap:latest); ErrInvalidArgument naming it otherwise.
func ValidateTag(tag string) error {
	_, err := normalizeTag(tag)
	return err
}
