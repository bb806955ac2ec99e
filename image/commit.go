package image

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	imgspecs "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/copy"
	ocilayout "go.podman.io/image/v5/oci/layout"
	istorage "go.podman.io/image/v5/storage"
)

// NewLayer names a layer already in the store (written with the storage's
// PutLayer on the base image's top layer) that CommitLayer puts on top of the
// base image.
type NewLayer struct {
	// DiffID is the layer's uncompressed digest (storage Layer.UncompressedDigest);
	// Size its uncompressed size in bytes.
	DiffID digest.Digest
	Size   int64
	// TempPrefix starts the name of the temporary OCI layout folder in
	// TempDir ("" = "commit-"), so a caller can find one left by a killed process.
	TempPrefix string
}

// TempDir is the store's folder for big temporary files (R/storage/tmp).
func (s *Store) TempDir() string { return s.sys.BigFilesTemporaryDir }

// CommitLayer makes a new image from base (any reference Image accepts) plus
// layer on top of it, the way buildah commits: the base's config with the
// layer's diff ID appended to rootfs.diff_ids, history appended to its
// history and Created set to history.Created (now when nil). It is written
// through containers/image (an OCI layout whose manifest names every layer
// by its diff ID, copied into the store), so it is an ordinary image that
// exports like any other; the store's copy finds all the layers, the new one
// included, already present and reuses them, so no layer data is copied. name is tagged like Import's tag ("snap" → "localhost/snap:latest")
// and moves from any image holding it. Errors: ErrImageNotFound,
// ErrInvalidArgument (a bad name), copy errors.
func (s *Store) CommitLayer(ctx context.Context, base string, layer NewLayer, name string, history imgspecv1.History) (*Image, error) {
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

	prefix := layer.TempPrefix
	if prefix == "" {
		prefix = "commit-"
	}
	dir, err := os.MkdirTemp(s.TempDir(), prefix)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o700); err != nil {
		return nil, err
	}
	writeBlob := func(data []byte) (digest.Digest, error) {
		d := digest.FromBytes(data)
		return d, os.WriteFile(filepath.Join(blobs, d.Encoded()), data, 0o600)
	}
	cfgDigest, err := writeBlob(newCfg)
	if err != nil {
		return nil, err
	}
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
	manDigest, err := writeBlob(manBytes)
	if err != nil {
		return nil, err
	}
	index := imgspecv1.Index{
		Versioned: imgspecs.Versioned{SchemaVersion: 2},
		MediaType: imgspecv1.MediaTypeImageIndex,
		Manifests: []imgspecv1.Descriptor{{MediaType: imgspecv1.MediaTypeImageManifest, Digest: manDigest, Size: int64(len(manBytes))}},
	}
	indexBytes, err := json.Marshal(index)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), indexBytes, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o600); err != nil {
		return nil, err
	}
	src, err := ocilayout.NewReference(dir, "")
	if err != nil {
		return nil, err
	}
	pc, err := s.policyContext()
	if err != nil {
		return nil, err
	}
	defer func() { _ = pc.Destroy() }()
	// containers/image's temporary files go below dir too, so everything a
	// killed commit leaves sits in one folder named by TempPrefix.
	sys := s.sys
	sys.BigFilesTemporaryDir = dir
	dst, err := istorage.Transport.NewStoreReference(s.store, tagged, "")
	if err != nil {
		return nil, err
	}
	if _, err := copy.Image(ctx, pc, dst, src, &copy.Options{SourceCtx: &sys, DestinationCtx: &sys}); err != nil {
		return nil, fmt.Errorf("commit %s on %s: %w", tagged, img.ID, err)
	}
	out, err := s.store.Image(tagged.String())
	if err != nil {
		return nil, fmt.Errorf("finding the committed image %s: %w", tagged, err)
	}
	return s.describe(out)
}

// ValidateTag checks an image name as CommitLayer and Import's tag take it
// ("snap" → localhost/snap:latest); ErrInvalidArgument naming it otherwise.
func ValidateTag(tag string) error {
	_, err := normalizeTag(tag)
	return err
}
