package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	dockerarchive "go.podman.io/image/v5/docker/archive"
	ocilayout "go.podman.io/image/v5/oci/layout"
	imgtypes "go.podman.io/image/v5/types"
)

// namesByID maps every image of s to its sorted names.
func namesByID(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, img := range list {
		n := slices.Clone(img.Names)
		sort.Strings(n)
		out[img.ID] = n
	}
	return out
}

// archiveTags reads a docker-archive's RepoTags per image (in archive order).
func archiveTags(t *testing.T, path string) [][]string {
	t.Helper()
	r, err := dockerarchive.NewReader(&imgtypes.SystemContext{BigFilesTemporaryDir: t.TempDir()}, path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	defer r.Close()
	groups, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, refs := range groups {
		var tags []string
		for _, ref := range refs {
			if dr := ref.DockerReference(); dr != nil {
				tags = append(tags, dr.String())
			}
		}
		sort.Strings(tags)
		out = append(out, tags)
	}
	return out
}

func isGzipFile(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b
}

func TestExportAllRoundTrip(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	a := importOne(t, s, dockerArchive(t, "pocketdock/a:latest", "a"), "")
	b := importOne(t, s, dockerArchive(t, "pocketdock/b:1", "b"), "")
	// An image without a name (an OCI archive whose ref name is a bare tag).
	u := importOne(t, s, ociArchive(t, "latest", "unnamed"), "")
	if len(u.Names) != 0 {
		t.Fatalf("unnamed image has names %v", u.Names)
	}
	for _, tag := range []string{"extra:1", "docker.io/me/a:2", "localhost:5000/team/a:dev"} {
		if _, err := s.Tag("pocketdock/a", tag); err != nil {
			t.Fatalf("Tag(%s): %v", tag, err)
		}
	}
	want := namesByID(t, s)

	out := t.TempDir()
	for _, name := range []string{"all.tar.gz", "all.tgz", "all.tar"} {
		path := filepath.Join(out, name)
		done, err := s.Export(ctx, nil, path, nil)
		if err != nil {
			t.Fatalf("Export(all, %s): %v", name, err)
		}
		if len(done) != 3 {
			t.Errorf("Export(all): %d images, want 3: %+v", len(done), done)
		}
		if gz := isGzipFile(t, path); gz != (name != "all.tar") {
			t.Errorf("%s: gzip = %v", name, gz)
		}
		// Into a fresh store: every image with every name.
		s2, _ := openStore(t)
		imgs, err := s2.Import(ctx, path, "", nil)
		if err != nil {
			t.Fatalf("Import(%s): %v", name, err)
		}
		if len(imgs) != 3 {
			t.Errorf("Import(%s): %d images", name, len(imgs))
		}
		if got := namesByID(t, s2); !mapsEqual(got, want) {
			t.Errorf("%s restored %v, want %v", name, got, want)
		}
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 3 {
		t.Errorf("output folder holds %d entries, want the 3 archives (no temporary files)", len(ents))
	}

	// Selected: a name writes that name; an ID writes every name of the image.
	sel := filepath.Join(out, "sel.tar")
	if _, err := s.Export(ctx, []string{"extra:1", b.ID[:12]}, sel, nil); err != nil {
		t.Fatal(err)
	}
	got := archiveTags(t, sel)
	if len(got) != 2 || !slices.Equal(got[0], []string{"localhost/extra:1"}) || !slices.Equal(got[1], []string{"docker.io/pocketdock/b:1"}) {
		t.Errorf("selected export RepoTags = %v", got)
	}
	// The same image twice: written once, tags merged.
	twice := filepath.Join(out, "twice.tar")
	if _, err := s.Export(ctx, []string{"pocketdock/a", "extra:1"}, twice, nil); err != nil {
		t.Fatal(err)
	}
	if got := archiveTags(t, twice); len(got) != 1 || !slices.Equal(got[0], []string{"docker.io/pocketdock/a:latest", "localhost/extra:1"}) {
		t.Errorf("twice RepoTags = %v", got)
	}
	if len(a.Names) != 1 {
		t.Errorf("a's names at import: %v", a.Names)
	}
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// A failed export leaves no file and keeps an existing one untouched.
func TestExportFailureLeavesNothing(t *testing.T) {
	s, _ := openStore(t)
	importOne(t, s, dockerArchive(t, "pocketdock/a:latest", "a"), "")
	dir := t.TempDir()
	old := filepath.Join(dir, "keep.tar.gz")
	if err := os.WriteFile(old, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		ctx  context.Context
		refs []string
		path string
		want error
	}{
		{context.Background(), []string{"pocketdock/nope"}, filepath.Join(dir, "x.tar"), ErrImageNotFound},
		{context.Background(), []string{"Bad Ref!"}, filepath.Join(dir, "x.tar"), ErrInvalidArgument},
		{context.Background(), nil, dir, ErrInvalidArgument},
		{context.Background(), nil, filepath.Join(dir, "missing", "x.tar"), ErrInvalidArgument},
		{cancelled, nil, old, context.Canceled},
	} {
		_, err := s.Export(c.ctx, c.refs, c.path, nil)
		if !errors.Is(err, c.want) {
			t.Errorf("Export(%v, %s) = %v, want %v", c.refs, c.path, err, c.want)
		}
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "old" {
		t.Errorf("existing file changed by a failed export: %q, %v", b, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries after failed exports, want 1", len(ents))
	}
	empty, _ := openStore(t)
	if _, err := empty.Export(context.Background(), nil, filepath.Join(dir, "e.tar"), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Export of an empty store = %v, want ErrInvalidArgument", err)
	}
}

func TestTag(t *testing.T) {
	s, _ := openStore(t)
	a := importOne(t, s, dockerArchive(t, "pocketdock/a:latest", "a"), "")
	b := importOne(t, s, dockerArchive(t, "pocketdock/b:latest", "b"), "")
	for tag, full := range map[string]string{
		"app":                  "localhost/app:latest",
		"me/app:1":             "localhost/me/app:1",
		"docker.io/me/app":     "docker.io/me/app:latest",
		"localhost:5000/x:dev": "localhost:5000/x:dev",
	} {
		img, err := s.Tag(a.ID[:8], tag)
		if err != nil || !slices.Contains(img.Names, full) {
			t.Errorf("Tag(%s) = %v, %v; want the name %s", tag, img, err, full)
		}
		if got, err := s.Image(tag); err != nil || got.ID != a.ID {
			t.Errorf("Image(%s) after Tag = %v, %v", tag, got, err)
		}
	}
	// A name moves from the image that had it.
	if _, err := s.Tag("pocketdock/b", "app"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Image("app"); got == nil || got.ID != b.ID {
		t.Errorf("app now names %v, want %s", got, b.ID)
	}
	if got, _ := s.Image(a.ID); slices.Contains(got.Names, "localhost/app:latest") {
		t.Errorf("a still holds app: %v", got.Names)
	}
	for _, c := range []struct {
		src, dst string
		want     error
	}{
		{"pocketdock/a", "Bad Name!", ErrInvalidArgument},
		{"pocketdock/a", "app@sha256:" + a.ID, ErrInvalidArgument},
		{"pocketdock/nope", "x", ErrImageNotFound},
	} {
		if _, err := s.Tag(c.src, c.dst); !errors.Is(err, c.want) {
			t.Errorf("Tag(%s, %s) = %v, want %v", c.src, c.dst, err, c.want)
		}
	}
}

func TestImportOCILayoutFolder(t *testing.T) {
	s, _ := openStore(t)
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	ref, err := ocilayout.NewReference(layout, "pocketdock/ocidir:v2")
	if err != nil {
		t.Fatal(err)
	}
	writeArchive(t, dir, ref, "ocidir")
	img := importOne(t, s, layout, "")
	if !slices.Equal(img.Names, []string{"docker.io/pocketdock/ocidir:v2"}) {
		t.Errorf("Names = %v", img.Names)
	}
	checkConfig(t, img, "ocidir")
	// With a tag added.
	img2 := importOne(t, s, layout, "mine:1")
	if img2.ID != img.ID || !slices.Contains(img2.Names, "localhost/mine:1") {
		t.Errorf("tagged layout import: %+v", img2)
	}
	// A folder that is not a layout.
	if _, err := s.Import(context.Background(), t.TempDir(), "", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Import(empty folder) = %v, want ErrInvalidArgument", err)
	}
}

func TestRegistryKey(t *testing.T) {
	for in, want := range map[string][2]string{
		"quay.io":                     {"quay.io", "quay.io"},
		"https://index.docker.io/v1/": {"docker.io", "docker.io"},
		"registry-1.docker.io":        {"docker.io", "docker.io"},
		"localhost:5000":              {"localhost:5000", "localhost:5000"},
		"http://127.0.0.1:5000/":      {"127.0.0.1:5000", "127.0.0.1:5000"},
		"quay.io/myorg":               {"quay.io/myorg", "quay.io"},
		"ghcr.io/me/repo":             {"ghcr.io/me/repo", "ghcr.io"},
	} {
		k, r, err := registryKey(in)
		if err != nil || k != want[0] || r != want[1] {
			t.Errorf("registryKey(%q) = %q, %q, %v; want %q, %q", in, k, r, err, want[0], want[1])
		}
	}
	for _, in := range []string{"", "https://", "Bad Host", "quay.io/me/repo:tag", "quay.io/me/repo@sha256:" + strings.Repeat("ab", 32)} {
		if _, _, err := registryKey(in); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("registryKey(%q) = %v, want ErrInvalidArgument", in, err)
		}
	}
}

func TestAuthFileFromEnvironment(t *testing.T) {
	t.Setenv(AuthFileEnv, "/tmp/x/auth.json")
	t.Setenv(dockerConfigEnv, "/tmp/dc")
	var sys imgtypes.SystemContext
	applyAuthFile(&sys)
	if sys.AuthFilePath != "/tmp/x/auth.json" || sys.DockerCompatAuthFilePath != "" {
		t.Errorf("REGISTRY_AUTH_FILE: %q %q", sys.AuthFilePath, sys.DockerCompatAuthFilePath)
	}
	t.Setenv(AuthFileEnv, "")
	sys = imgtypes.SystemContext{}
	applyAuthFile(&sys)
	if sys.AuthFilePath != "" || sys.DockerCompatAuthFilePath != "/tmp/dc/config.json" {
		t.Errorf("DOCKER_CONFIG: %q %q", sys.AuthFilePath, sys.DockerCompatAuthFilePath)
	}
	t.Setenv(dockerConfigEnv, "")
	sys = imgtypes.SystemContext{}
	applyAuthFile(&sys)
	if sys.AuthFilePath != "" || sys.DockerCompatAuthFilePath != "" {
		t.Errorf("defaults: %q %q", sys.AuthFilePath, sys.DockerCompatAuthFilePath)
	}
}

// A damaged image (no manifest, as a killed copy leaves) is skipped by an
// export of everything and refused when named.
func TestExportSkipsDamagedImage(t *testing.T) {
	s, _ := openStore(t)
	good := importOne(t, s, dockerArchive(t, "pocketdock/a:latest", "a"), "")
	bad, err := s.Storage().CreateImage("", []string{"localhost/damaged:1"}, good.TopLayer, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// List shows it (so it can be removed by ID).
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("List with a damaged image = %d images, %v; want 2", len(list), err)
	}
	path := filepath.Join(t.TempDir(), "all.tar")
	done, err := s.Export(context.Background(), nil, path, nil)
	if err != nil || len(done) != 1 || done[0].ID != good.ID {
		t.Fatalf("Export(all) with a damaged image = %+v, %v; want only %s", done, err, good.ID)
	}
	if _, err := s.Export(context.Background(), []string{"localhost/damaged:1"}, path, nil); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), bad.ID) {
		t.Errorf("Export(damaged) = %v, want ErrInvalidArgument naming %s", err, bad.ID)
	}
}

// ExportTo a stream (gzip'd) and ImportFrom it: the docker save > FILE and
// docker load < FILE round trip.
func TestExportToImportFromStream(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	a := importOne(t, s, dockerArchive(t, "pocketdock/a:latest", "a"), "")
	if _, err := s.Tag(a.ID, "streamed:1"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done, err := s.ExportTo(ctx, []string{a.ID}, &buf, true, nil)
	if err != nil || len(done) != 1 || len(done[0].Tags) != 2 {
		t.Fatalf("ExportTo = %+v, %v", done, err)
	}
	if b := buf.Bytes(); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatal("ExportTo(gz) wrote no gzip stream")
	}
	s2, _ := openStore(t)
	imgs, err := s2.ImportFrom(ctx, &buf, "", nil)
	if err != nil || len(imgs) != 1 || imgs[0].ID != a.ID {
		t.Fatalf("ImportFrom = %v, %v", imgs, err)
	}
	if got := namesByID(t, s2)[a.ID]; !slices.Equal(got, []string{"docker.io/pocketdock/a:latest", "localhost/streamed:1"}) {
		t.Errorf("names after ImportFrom: %v", got)
	}
	if _, err := s2.ImportFrom(ctx, bytes.NewReader(nil), "", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ImportFrom(empty) = %v, want ErrInvalidArgument", err)
	}
}
