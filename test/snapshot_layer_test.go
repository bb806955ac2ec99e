package test

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/copy"
	ocilayout "go.podman.io/image/v5/oci/layout"
	"go.podman.io/image/v5/signature"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/storage"
	"go.podman.io/storage/pkg/archive"
)

// checkSnapshotLayer checks the top layer of snapshot image id: the store
// rebuilds its tarball (tar-split) to exactly its diff ID, containers/image
// exports the image to an OCI layout (checking every blob's digest), and no
// staging folder is left in the store.
func checkSnapshotLayer(t *testing.T, id string) {
	t.Helper()
	s := testImages(t)
	st := s.Storage()
	img, err := st.Image(id)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := st.Layer(img.TopLayer)
	if err != nil {
		t.Fatal(err)
	}
	none := archive.Uncompressed
	rc, err := st.Diff("", layer.ID, &storage.DiffOptions{Compression: &none})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil {
		t.Fatalf("rebuild the snapshot layer: %v", err)
	}
	if d := digest.NewDigest(digest.SHA256, h); d != layer.UncompressedDigest || n != layer.UncompressedSize {
		t.Fatalf("the snapshot layer rebuilds to %s (%d bytes), its diff ID is %s (%d bytes)", d, n, layer.UncompressedDigest, layer.UncompressedSize)
	}

	pc, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Destroy()
	src, err := istorage.Transport.ParseStoreReference(st, "@"+id)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := ocilayout.NewReference(filepath.Join(t.TempDir(), "oci"), "snap")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := copy.Image(context.Background(), pc, dst, src, &copy.Options{}); err != nil {
		t.Fatalf("export the snapshot: %v", err)
	}

	drv, err := st.GraphDriver()
	if err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(st.GraphRoot(), drv.String(), "staging", "*"))
	for _, l := range left {
		if _, err := os.Stat(l); err == nil {
			t.Fatalf("staging folder left in the store: %s", l)
		}
	}
}
