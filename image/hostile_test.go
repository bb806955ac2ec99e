package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tarEntry is one entry of a hand-made layer: a file (Body), a directory
// (Dir), a symlink (Link) or a hard link (Hard).
type tarEntry struct {
	Name, Body, Link, Hard string
	Dir                    bool
}

func rawTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: 0o644, Format: tar.FormatGNU}
		switch {
		case e.Dir:
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case e.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Link
		case e.Hard != "":
			h.Typeflag, h.Linkname = tar.TypeLink, e.Hard
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.Body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hostileArchive writes a docker-archive (docker save layout) of the given
// layers, tagged tag, and returns its path.
func hostileArchive(t *testing.T, dir, tag string, layers ...[]tarEntry) string {
	t.Helper()
	var files []tarEntry
	var diffIDs, names []string
	for _, l := range layers {
		data := rawTar(t, l)
		sum := sha256.Sum256(data)
		d := hex.EncodeToString(sum[:])
		diffIDs = append(diffIDs, "sha256:"+d)
		names = append(names, d+"/layer.tar")
		files = append(files, tarEntry{Name: d + "/layer.tar", Body: string(data)})
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	sum := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(sum[:]) + ".json"
	files = append(files, tarEntry{Name: cfgName, Body: string(cfg)})
	man, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{tag}, "Layers": names}})
	files = append(files, tarEntry{Name: "manifest.json", Body: string(man)})
	path := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(tag)+".tar")
	if err := os.WriteFile(path, rawTar(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Layers that try to write outside the store — "../" names, absolute
// names, a symlink to a host folder then a file through it, a hard link to
// a host file — write nothing outside it; a failed import leaves no layer.
func TestHostileArchives(t *testing.T) {
	s, root := openStore(t)
	ctx := context.Background()
	victim := t.TempDir() // outside the store
	in := t.TempDir()
	up := strings.Repeat("../", 20)
	escape := []tarEntry{
		{Name: "bin", Dir: true},
		{Name: up + strings.TrimPrefix(victim, "/") + "/dotdot", Body: "x"},
		{Name: victim + "/abs", Body: "x"},
	}
	through := []tarEntry{
		{Name: "esc", Link: victim},
		{Name: "esc/sym", Body: "x"},
		{Name: "rel", Link: up + strings.TrimPrefix(victim, "/")},
		{Name: "rel/relsym", Body: "x"},
	}
	hard := []tarEntry{{Name: "passwd", Hard: "/etc/passwd"}}

	layersBefore := func() int {
		ls, err := s.Storage().Layers()
		if err != nil {
			t.Fatal(err)
		}
		return len(ls)
	}
	n0 := layersBefore()

	// Two good-looking layers, then one that fails: nothing of it stays.
	bad := hostileArchive(t, in, "hostile/bad:latest", escape, through, hard)
	if _, err := s.Import(ctx, bad, "", nil); err == nil {
		t.Error("import with a hard link to a host file succeeded")
	}
	if n := layersBefore(); n != n0 {
		t.Errorf("failed import left %d layers", n-n0)
	}
	if _, err := s.Image("hostile/bad"); err == nil {
		t.Error("failed import left an image")
	}

	// The same without the hard link imports (the names are cleaned and
	// the links stay inside the layer), and writes nothing outside.
	ok := hostileArchive(t, in, "hostile/ok:latest", escape, through)
	if _, err := s.Import(ctx, ok, "", nil); err != nil {
		t.Fatalf("import: %v", err)
	}
	ents, err := os.ReadDir(victim)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("import wrote %s outside the store", filepath.Join(victim, e.Name()))
	}
	// Nor anywhere else outside the state root (the names, taken literally).
	for _, p := range []string{"/abs", "/dotdot", "/sym", "/relsym"} {
		if _, err := os.Stat(filepath.Join(filepath.Dir(root), p)); err == nil {
			t.Errorf("import wrote %s", p)
		}
	}
	if err := s.Remove("hostile/ok"); err != nil {
		t.Fatal(err)
	}
	if n := layersBefore(); n != n0 {
		t.Errorf("after rmi: %d layers left", n-n0)
	}
}

// An oci-archive is unpacked on the host (into the store's tmp) before it
// is read: entries that reach out of that folder write nothing outside it.
func TestHostileOCIArchive(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	victim := t.TempDir()
	in := t.TempDir()
	up := strings.Repeat("../", 20)
	for name, entries := range map[string][]tarEntry{
		"abs-symlink": {{Name: "esc", Link: victim}, {Name: "esc/x", Body: "x"}},
		"rel-symlink": {{Name: "rel", Link: up + strings.TrimPrefix(victim, "/")}, {Name: "rel/x", Body: "x"}},
		"dotdot":      {{Name: up + strings.TrimPrefix(victim, "/") + "/x", Body: "x"}},
		"hardlink":    {{Name: "hl", Hard: up + "etc/passwd"}},
	} {
		all := append([]tarEntry{{Name: "oci-layout", Body: `{"imageLayoutVersion":"1.0.0"}`}}, entries...)
		all = append(all, tarEntry{Name: "index.json", Body: `{"schemaVersion":2,"manifests":[]}`})
		path := filepath.Join(in, name+".tar")
		if err := os.WriteFile(path, rawTar(t, all), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Import(ctx, path, "hostile/oci", nil); err == nil {
			t.Errorf("%s: import succeeded", name)
		}
		ents, _ := os.ReadDir(victim)
		for _, e := range ents {
			t.Errorf("%s: wrote %s outside the store", name, filepath.Join(victim, e.Name()))
		}
	}
}
