package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.podman.io/storage"
	"go.podman.io/storage/pkg/archive"
	"go.podman.io/storage/pkg/reexec"
	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock/image"
)

// TestMain lets containers/storage re-execute the test binary (PutLayer's
// untar runs in a re-executed child).
func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

// upperTree makes a folder shaped like an overlay upper folder with every
// kind of entry a snapshot meets: files (empty, small, several chunks),
// hardlinks, symlinks, a fifo, a device, user and capability xattrs, a
// whiteout (character device 0/0), an opaque folder, a long name (PAX), odd
// modes and owners, and a mount point to exclude.
func upperTree(t *testing.T, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 3*chunkSize+12345)
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	must(os.MkdirAll(filepath.Join(dir, "a/b/c"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a/empty"), nil, 0o600))
	must(os.WriteFile(filepath.Join(dir, "a/small"), []byte("small\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "a/b/big"), big, 0o755))
	must(os.Link(filepath.Join(dir, "a/b/big"), filepath.Join(dir, "a/b/c/big-link")))
	must(os.Symlink("../small", filepath.Join(dir, "a/b/sym")))
	must(os.Symlink("/nowhere/at/all", filepath.Join(dir, "a/dangling")))
	must(unix.Mkfifo(filepath.Join(dir, "a/fifo"), 0o640))
	must(unix.Mknod(filepath.Join(dir, "a/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(dir, "a/gone"), unix.S_IFCHR, 0)) // whiteout
	must(os.MkdirAll(filepath.Join(dir, "opaque/new"), 0o750))
	must(os.WriteFile(filepath.Join(dir, "opaque/new/f"), []byte("f"), 0o644))
	must(unix.Setxattr(filepath.Join(dir, "opaque"), "trusted.overlay.opaque", []byte("y"), 0))
	// chown drops file capabilities: owner first.
	must(os.Chown(filepath.Join(dir, "a/small"), 1000, 1001))
	must(unix.Setxattr(filepath.Join(dir, "a/small"), "user.note", []byte("value"), 0))
	must(unix.Setxattr(filepath.Join(dir, "a/small"), "security.capability",
		[]byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0))
	long := filepath.Join(dir, strings.Repeat("long-name-", 12))
	must(os.WriteFile(long, []byte("long"), 0o644))
	must(os.Chmod(filepath.Join(dir, "a/b/big"), os.ModeSetuid|0o755))
	must(os.MkdirAll(filepath.Join(dir, "mnt/point"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "mnt/point/hidden"), []byte("no"), 0o644))
	// The first path of this pair is left out: the second carries the data.
	must(os.Link(filepath.Join(dir, "mnt/point/hidden"), filepath.Join(dir, "z-link-of-hidden")))
	must(unix.Mknod(filepath.Join(dir, "a/sock"), unix.S_IFSOCK|0o755, 0))                    // left out
	must(unix.Setxattr(filepath.Join(dir, "a/empty"), "user.overlay.origin", []byte("x"), 0)) // left out
	must(unix.Setxattr(filepath.Join(dir, "a/b"), "user.dir", []byte("d"), 0))
}

// treeListing describes every entry below dir: type and mode, owner, link
// count, size, device, symlink target, mtime, every xattr and the sha256 of
// regular files.
func treeListing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s mode=%o %d:%d nlink=%d rdev=%d mtime=%d.%09d", rel, st.Mode, st.Uid, st.Gid, st.Nlink, st.Rdev, st.Mtim.Sec, st.Mtim.Nsec)
		if rel == "." {
			line = fmt.Sprintf(". mode=%o %d:%d", st.Mode, st.Uid, st.Gid)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			// A whiteout is made (mknod) when it is unpacked; its times are not kept.
			line = fmt.Sprintf("%s whiteout mode=%o %d:%d nlink=%d", rel, st.Mode, st.Uid, st.Gid, st.Nlink)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" size=%d sha=%x", len(data), sha256.Sum256(data))
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		sz, _ := unix.Llistxattr(p, nil)
		if sz > 0 {
			buf := make([]byte, sz)
			sz, _ = unix.Llistxattr(p, buf)
			names := strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00")
			sort.Strings(names)
			for _, n := range names {
				v := make([]byte, 256)
				k, _ := unix.Lgetxattr(p, n, v)
				line += fmt.Sprintf(" %s=%s", n, hex.EncodeToString(v[:max(k, 0)]))
			}
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tarUpper makes the stream TarWithOptions makes, and a staged layer of it is
// the layer PutLayer makes from TarWithOptions' stream: same digest, size,
// owners, the same rebuilt tarball (tar-split), and the same files in its
// folder.
func TestStagedLayerEqualsPutLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (overlay store, devices, trusted xattrs)")
	}
	root := t.TempDir()
	s, err := image.Open(image.OptionsForRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	st := s.Storage()
	upper, lower := t.TempDir(), t.TempDir()
	upperTree(t, upper)
	// The opaque folder replaces one of a lower layer.
	if err := os.MkdirAll(filepath.Join(lower, "opaque/old"), 0o755); err != nil {
		t.Fatal(err)
	}
	drop := map[string]bool{"/mnt": true}
	diff := func() (io.ReadCloser, error) {
		return archive.TarWithOptions(upper, &archive.TarOptions{
			Compression:     archive.Uncompressed,
			WhiteoutFormat:  archive.OverlayWhiteoutFormat,
			WhiteoutData:    []string{lower},
			ExcludePatterns: excludePatterns(drop),
		})
	}
	produce := func(w *chunkWriter) error { return tarUpper(w, upper, []string{lower}, drop) }

	// tarUpper makes TarWithOptions' stream, byte for byte.
	rc, err := diff()
	if err != nil {
		t.Fatal(err)
	}
	stock, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var ours bytes.Buffer
	w := &chunkWriter{emit: func(c *chunk) error { ours.Write(c.b); return nil }}
	if err := produce(w); err != nil {
		t.Fatal(err)
	}
	w.flush()
	if !bytes.Equal(ours.Bytes(), stock) {
		n := 0
		for n < len(stock) && n < ours.Len() && stock[n] == ours.Bytes()[n] {
			n++
		}
		t.Fatalf("tarUpper's stream (%d bytes) differs from TarWithOptions' (%d bytes) from byte %d", ours.Len(), len(stock), n)
	}
	drv, err := st.GraphDriver()
	if err != nil {
		t.Fatal(err)
	}
	dirOf := func(id string) string {
		md, err := drv.Metadata(id)
		if err != nil {
			t.Fatal(err)
		}
		return md["UpperDir"]
	}
	// Both go on a parent whose folder has an unusual owner and mode.
	parent, err := st.CreateLayer("", "", nil, "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dirOf(parent.ID), 1234, 4321); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dirOf(parent.ID), 0o751); err != nil {
		t.Fatal(err)
	}
	rc, err = diff()
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := st.PutLayer("", parent.ID, []string{"by-putlayer"}, "", false, nil, rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	got, err := stagedLayer(st, "test-container", parent.ID, "by-staging", produce)
	if err != nil {
		t.Fatal(err)
	}
	if got.UncompressedDigest != want.UncompressedDigest || got.UncompressedSize != want.UncompressedSize ||
		!slices.Equal(got.UIDs, want.UIDs) || !slices.Equal(got.GIDs, want.GIDs) {
		t.Fatalf("staged layer %s %d uids %v gids %v; PutLayer %s %d uids %v gids %v",
			got.UncompressedDigest, got.UncompressedSize, got.UIDs, got.GIDs,
			want.UncompressedDigest, want.UncompressedSize, want.UIDs, want.GIDs)
	}
	// The same layer through TarWithOptions (the producer for a container
	// that is not frozen).
	viaStock, err := stagedLayer(st, "test-container", parent.ID, "by-staging-stock", tarWithOptions(upper, []string{lower}, drop))
	if err != nil {
		t.Fatal(err)
	}
	if viaStock.UncompressedDigest != want.UncompressedDigest {
		t.Fatalf("staged through TarWithOptions: %s, want %s", viaStock.UncompressedDigest, want.UncompressedDigest)
	}
	if err := st.DeleteLayer(viaStock.ID); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.UIDs, []uint32{0, 1000}) {
		t.Fatalf("uids %v, want [0 1000] (the whiteout does not count)", got.UIDs)
	}
	rebuilt := func(id string) []byte {
		t.Helper()
		rc, err := st.Diff("", id, &storage.DiffOptions{Compression: &uncompressed})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("rebuild layer %s: %v", id, err)
		}
		return b
	}
	gotTar, wantTar := rebuilt(got.ID), rebuilt(want.ID)
	if !bytes.Equal(gotTar, wantTar) {
		t.Fatalf("rebuilt tarballs differ: staged %d bytes, PutLayer %d bytes", len(gotTar), len(wantTar))
	}
	if d := digest.FromBytes(gotTar); d != got.UncompressedDigest {
		t.Fatalf("rebuilt tarball has digest %s, the layer says %s", d, got.UncompressedDigest)
	}
	gl, wl := treeListing(t, dirOf(got.ID)), treeListing(t, dirOf(want.ID))
	if !slices.Equal(gl, wl) {
		t.Fatalf("layer folders differ:\nstaged only: %q\nPutLayer only: %q", diffLines(wl, gl), diffLines(gl, wl))
	}
	for _, must := range []string{". mode=40751 1234:4321", "a/gone whiteout mode=20000", "a/b/big mode=104755", "opaque mode=40750", "trusted.overlay.opaque=79", "user.note=", "security.capability=", "a/b/c/big-link", "nlink=2", "user.dir=64", "z-link-of-hidden mode=100644 0:0 nlink=1"} {
		if !strings.Contains(strings.Join(gl, "\n"), must) {
			t.Fatalf("layer folder lacks %q:\n%s", must, strings.Join(gl, "\n"))
		}
	}
	if j := strings.Join(gl, "\n"); strings.Contains(j, "mnt") || strings.Contains(j, "sock") || strings.Contains(j, "user.overlay") {
		t.Fatalf("the excluded mount point, the socket or a user.overlay xattr is in the layer:\n%s", strings.Join(gl, "\n"))
	}
	// Nothing of the staging is left.
	if left, _ := filepath.Glob(filepath.Join(st.GraphRoot(), drv.String(), "staging", "*", "*")); len(left) > 0 {
		t.Fatalf("staging left: %v", left)
	}
	for _, id := range []string{got.ID, want.ID, parent.ID} {
		if err := st.DeleteLayer(id); err != nil {
			t.Error(err)
		}
	}
}

// A staging folder left by a killed snapshot is removed by the next one.
func TestRemoveStagingOfKilledSnapshot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (overlay store)")
	}
	root := t.TempDir()
	s, err := image.Open(image.OptionsForRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st := s.Storage()
	drv, err := st.GraphDriver()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(st.GraphRoot(), drv.String(), "staging")
	mine, other := filepath.Join(base, "1"), filepath.Join(base, "2")
	for _, d := range []string{mine, other} {
		if err := os.MkdirAll(filepath.Join(d, "dir"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(mine, stagingMarker("c1")), nil, 0o600)
	os.WriteFile(filepath.Join(other, stagingMarker("c2")), nil, 0o600)
	RemoveLeftovers(s, "c1")
	if _, err := os.Stat(mine); !os.IsNotExist(err) {
		t.Fatalf("staging folder of c1 still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("staging folder of c2 removed: %v", err)
	}
	os.RemoveAll(other)
}

func diffLines(a, b []string) []string {
	seen := map[string]bool{}
	for _, s := range a {
		seen[s] = true
	}
	var out []string
	for _, s := range b {
		if !seen[s] {
			out = append(out, s)
		}
	}
	return out
}
