package snapshot

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func mk(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestScanUpperDropsMountPointsAndTheirOwnParents(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	mk(t, lower, "etc/hosts", "home/")
	// Mount points made by the runtime: /etc/hosts (exists below), /vol/a/b
	// (new folders /vol, /vol/a), /home/u/v (/home/u new, but holds a user file).
	mk(t, upper, "etc/", "vol/a/b/", "home/u/v/", "home/u/mine", "data/file")
	drop, err := scanUpper(upper, []string{lower}, []string{"/etc/hosts", "/vol/a/b", "/home/u/v", "/proc"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc/hosts", "/home/u/v", "/proc", "/vol", "/vol/a", "/vol/a/b"}
	if got := keys(drop); !reflect.DeepEqual(got, want) {
		t.Fatalf("drop = %v, want %v", got, want)
	}
}

func TestScanUpperRefusesWhiteoutNames(t *testing.T) {
	upper := t.TempDir()
	mk(t, upper, "tmp/.wh.x", "a/.wh..wh..opq")
	_, err := scanUpper(upper, nil, nil)
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), `"/a/.wh..wh..opq" (and 1 more)`) {
		t.Fatalf("%v", err)
	}
	// Inside a dropped mount point it does not matter.
	upper2 := t.TempDir()
	mk(t, upper2, "vol/.wh.x")
	if _, err := scanUpper(upper2, nil, []string{"/vol"}); err != nil {
		t.Fatal(err)
	}
}

func TestFilterTar(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, h := range []*tar.Header{
		{Name: "vol/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "vol/a/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "volume", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		{Name: "etc/.wh.motd", Typeflag: tar.TypeReg, Mode: 0o600},
		{Name: "f", Typeflag: tar.TypeReg, Mode: 0o755, Size: 1, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}},
		{Name: "h", Typeflag: tar.TypeLink, Linkname: "f"},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("z"))
		}
	}
	tw.Close()
	var out bytes.Buffer
	if err := filterTar(&in, &out, map[string]bool{"/vol": true}); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&out)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "f" && h.PAXRecords["SCHILY.xattr.security.capability"] != "\x01\x00\x00\x02" {
			t.Fatalf("xattr lost: %v", h.PAXRecords)
		}
		if h.Name == "h" && (h.Typeflag != tar.TypeLink || h.Linkname != "f") {
			t.Fatalf("hardlink changed: %+v", h)
		}
	}
	if want := []string{"volume", "etc/.wh.motd", "f", "h"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
}

func TestExcludePatterns(t *testing.T) {
	got := excludePatterns(map[string]bool{"/vol/a": true, "/we*ird[1]?": true})
	want := []string{"vol/a", `we\*ird\[1\]\?`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
