package agent

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type entry struct {
	name, link, data string
	typ              byte
}

func archive(t *testing.T, ents ...entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o755, ModTime: time.Unix(1600000000, 0)}
		if e.typ == tar.TypeReg {
			h.Mode, h.Size = 0o644, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.data))
	}
	tw.Close()
	return &buf
}

// A hostile archive (as a container could send on pull) never makes
// ExtractTree create or change anything outside the target.
func TestExtractTreeContained(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	os.Mkdir(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "keep"), []byte("keep"), 0o644)
	root := entry{name: ".", typ: tar.TypeDir}
	cases := map[string][]entry{
		"dotdot":             {root, {name: "../outside/evil", typ: tar.TypeReg, data: "x"}},
		"dotdot-deep":        {root, {name: "a/../../outside/evil", typ: tar.TypeReg, data: "x"}},
		"absolute":           {root, {name: "/outside/evil", typ: tar.TypeReg, data: "x"}},
		"through-link":       {root, {name: "l", typ: tar.TypeSymlink, link: outside}, {name: "l/evil", typ: tar.TypeReg, data: "x"}},
		"through-rel-link":   {root, {name: "l", typ: tar.TypeSymlink, link: "../outside"}, {name: "l/evil", typ: tar.TypeReg, data: "x"}},
		"dir-through-link":   {root, {name: "l", typ: tar.TypeSymlink, link: outside}, {name: "l/sub/", typ: tar.TypeDir}},
		"link-over-link":     {root, {name: "l", typ: tar.TypeSymlink, link: "/"}, {name: "l/etc/passwd", typ: tar.TypeReg, data: "x"}},
		"device":             {root, {name: "null", typ: tar.TypeChar}},
		"hardlink":           {root, {name: "h", typ: tar.TypeLink, link: "/etc/passwd"}},
		"not-dot-first":      {{name: "evil", typ: tar.TypeReg, data: "x"}},
		"entries-after-file": {{name: ".", typ: tar.TypeReg, data: "x"}, {name: "more", typ: tar.TypeReg}},
	}
	for name, ents := range cases {
		t.Run(name, func(t *testing.T) {
			target := filepath.Join(dir, "t-"+name)
			err := ExtractTree(archive(t, ents...), target, ExtractOptions{})
			if err == nil {
				t.Fatal("hostile archive extracted without error")
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Fatalf("outside changed: %v", ents)
			}
			if _, err := os.Lstat(filepath.Join(dir, "evil")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal("evil made next to the target")
			}
		})
	}
	// A good archive with a link works; the link is kept, not followed.
	target := filepath.Join(dir, "good")
	if err := ExtractTree(archive(t, root, entry{name: "l", typ: tar.TypeSymlink, link: outside}, entry{name: "f", typ: tar.TypeReg, data: "hi"}), target, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(target, "l")); err != nil || l != outside {
		t.Fatalf("link: %q %v", l, err)
	}
	// An existing symlink at the target is replaced, never followed.
	os.Symlink(outside, filepath.Join(dir, "swapped"))
	if err := ExtractTree(archive(t, root, entry{name: "f", typ: tar.TypeReg, data: "hi"}), filepath.Join(dir, "swapped"), ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "swapped")); err != nil || !fi.IsDir() {
		t.Fatalf("swapped: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Fatalf("outside changed: %v", ents)
	}
}

func TestWriteTreeRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(filepath.Join(src, "a b", "ü"), 0o750)
	os.WriteFile(filepath.Join(src, "a b", "ü", "f:1\n"), []byte("data"), 0o640)
	os.Symlink("/etc/shadow", filepath.Join(src, "shadow"))
	mt := time.Unix(1234567890, 0)
	os.Chtimes(filepath.Join(src, "a b", "ü", "f:1\n"), mt, mt)
	var buf bytes.Buffer
	if err := WriteTree(&buf, src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "dst")
	if err := ExtractTree(&buf, dst, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "a b", "ü", "f:1\n"))
	if err != nil || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mt) {
		t.Fatalf("file: %v %v", fi, err)
	}
	if l, _ := os.Readlink(filepath.Join(dst, "shadow")); l != "/etc/shadow" {
		t.Fatalf("link %q", l)
	}
	if fi, _ := os.Stat(filepath.Join(dst, "a b")); fi.Mode().Perm() != 0o750 {
		t.Fatalf("dir mode %v", fi.Mode())
	}
}
