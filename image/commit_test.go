package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	imgspecs "github.com/opencontainers/image-spec/specs-go"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/copy"
	ocilayout "go.podman.io/image/v5/oci/layout"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/storage"
)

// writeImageViaCopy writes d the way CommitLayer used to: an OCI layout
// holding the config and manifest, copied into the store by containers/image
// (which finds every layer present). It is the reference writeImage must
// match.
func writeImageViaCopy(t *testing.T, s *Store, d *newImage) *storage.Image {
	t.Helper()
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{d.config, d.manifest} {
		if err := os.WriteFile(filepath.Join(blobs, digest.FromBytes(b).Encoded()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	index, _ := json.Marshal(imgspecv1.Index{
		Versioned: imgspecs.Versioned{SchemaVersion: 2},
		MediaType: imgspecv1.MediaTypeImageIndex,
		Manifests: []imgspecv1.Descriptor{{MediaType: imgspecv1.MediaTypeImageManifest, Digest: digest.FromBytes(d.manifest), Size: int64(len(d.manifest))}},
	})
	os.WriteFile(filepath.Join(dir, "index.json"), index, 0o600)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o600)
	src, err := ocilayout.NewReference(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := s.policyContext()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Destroy()
	sys := s.sys
	sys.BigFilesTemporaryDir = dir
	dst, err := istorage.Transport.NewStoreReference(s.store, d.tagged, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := copy.Image(context.Background(), pc, dst, src, &copy.Options{SourceCtx: &sys, DestinationCtx: &sys}); err != nil {
		t.Fatal(err)
	}
	img, err := s.store.Image(d.tagged.String())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// committed describes an image as the store holds it, with layer IDs
// replaced by their diff IDs (the new layer's ID is random per store).
func committed(t *testing.T, s *Store, img *storage.Image) string {
	t.Helper()
	var b strings.Builder
	meta, _ := s.store.Metadata(img.ID)
	b.WriteString("id " + img.ID + "\nnames " + strings.Join(img.Names, ",") + "\ncreated " + img.Created.String() + "\nmetadata " + meta + "\n")
	b.WriteString("digest " + img.Digest.String() + "\n")
	for _, d := range img.Digests {
		b.WriteString("digests " + d.String() + "\n")
	}
	for id := img.TopLayer; id != ""; {
		l, err := s.store.Layer(id)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("layer " + l.UncompressedDigest.String() + "\n")
		id = l.Parent
	}
	keys := slices.Clone(img.BigDataNames)
	slices.Sort(keys)
	for _, k := range keys {
		data, err := s.store.ImageBigData(img.ID, k)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("bigdata " + k + " " + digest.FromBytes(data).String() + "\n")
	}
	return b.String()
}

// CommitLayer writes the image containers/image wrote for the same config
// and manifest: same ID, names, creation date, metadata, digests, layers
// and big data; and it exports.
func TestCommitLayerWritesWhatContainersImageWrote(t *testing.T) {
	src := t.TempDir()
	base := layerTar(t, src, false)
	// The new layer: one more file.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("new\n")
	if err := tw.WriteHeader(&tar.Header{Name: "etc/new.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	var got []string
	for _, direct := range []bool{true, false} {
		s, _ := openStore(t)
		img := importOne(t, s, base, "base")
		layer, _, err := s.store.PutLayer("", img.TopLayer, nil, "", false, nil, bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.store.AddNames(layer.ID, []string{ChainID(img.TopLayer, layer.UncompressedDigest)}); err != nil {
			t.Fatal(err)
		}
		// Another image holds the second name first: it moves.
		if _, err := s.Import(context.Background(), base, "snap2", nil); err != nil {
			t.Fatal(err)
		}
		nl := NewLayer{DiffID: layer.UncompressedDigest, Size: layer.UncompressedSize}
		h := imgspecv1.History{Created: &created, CreatedBy: "test", Comment: "commit"}
		// The same commit under a new name, then under a name another image
		// holds (the same config: the image is reused, the name added).
		var out *storage.Image
		for _, name := range []string{"snap", "snap2"} {
			if direct {
				desc, err := s.CommitLayer(context.Background(), "base", nl, name, h)
				if err != nil {
					t.Fatal(err)
				}
				if out, err = s.store.Image(desc.ID); err != nil {
					t.Fatal(err)
				}
			} else {
				d, err := s.prepareCommit("base", nl, name, h)
				if err != nil {
					t.Fatal(err)
				}
				out = writeImageViaCopy(t, s, d)
			}
		}
		if out.TopLayer != layer.ID {
			t.Fatalf("direct=%v: top layer %s, want the layer put (%s)", direct, out.TopLayer, layer.ID)
		}
		got = append(got, committed(t, s, out))
		// Nothing else holds the name.
		imgs, _ := s.store.Images()
		for _, o := range imgs {
			if o.ID != out.ID && (slices.Contains(o.Names, "localhost/snap:latest") || slices.Contains(o.Names, "localhost/snap2:latest")) {
				t.Fatalf("direct=%v: the name stayed on image %s too", direct, o.ID)
			}
		}
		// It exports (containers/image reads it and checks every blob).
		ref, err := istorage.Transport.ParseStoreReference(s.store, "@"+out.ID)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := s.policyContext()
		if err != nil {
			t.Fatal(err)
		}
		dst, err := ocilayout.NewReference(filepath.Join(t.TempDir(), "oci"), "x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := copy.Image(context.Background(), pc, dst, ref, &copy.Options{}); err != nil {
			t.Fatalf("direct=%v: export: %v", direct, err)
		}
		pc.Destroy()
		if _, err := s.store.DeleteImage(out.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	if got[0] != got[1] {
		t.Fatalf("CommitLayer wrote\n%s\ncontainers/image wrote\n%s", got[0], got[1])
	}
	t.Logf("both wrote:\n%s", got[0])
}

// A layer that is not in the store under its chain ID is refused.
func TestCommitLayerNeedsTheLayer(t *testing.T) {
	s, _ := openStore(t)
	importOne(t, s, layerTar(t, t.TempDir(), false), "base")
	_, err := s.CommitLayer(context.Background(), "base", NewLayer{DiffID: digest.FromString("nothing"), Size: 1}, "snap", imgspecv1.History{})
	if err == nil || !strings.Contains(err.Error(), "chain ID") {
		t.Fatalf("CommitLayer without the layer: %v", err)
	}
	if _, err := s.store.Image("localhost/snap:latest"); err == nil {
		t.Fatal("an image was made")
	}
}
