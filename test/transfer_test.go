package test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.podman.io/image/v5/copy"
	dockerarchive "go.podman.io/image/v5/docker/archive"
	ocilayout "go.podman.io/image/v5/oci/layout"
	"go.podman.io/image/v5/signature"
	imgtypes "go.podman.io/image/v5/types"
)

// cliRun is one run of the CLI binary with its own state root, environment
// additions (the variables named in env replace inherited ones) and stdin.
type cliRun struct {
	root  string
	env   []string
	stdin string
}

// run runs the CLI and returns stdout, stderr and the exit code.
func (r cliRun) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	needRoot(t)
	cmd := exec.Command(cliBin, append([]string{"--root", r.root}, args...)...)
	drop := map[string]bool{}
	for _, kv := range r.env {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, r.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(r.stdin)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// freshRoot makes an empty state root removed (containers, mounts and all)
// when the test ends.
func freshRoot(t *testing.T) string {
	t.Helper()
	needRoot(t)
	dir, err := os.MkdirTemp("", "pd-xfer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupRoot(dir) })
	return dir
}

// imageNames runs `images --json` and maps image IDs to their sorted names.
func imageNames(t *testing.T, r cliRun) map[string][]string {
	t.Helper()
	out, errs, code := r.run(t, "images", "--json")
	if code != 0 {
		t.Fatalf("images --json: %d %s", code, errs)
	}
	var rows []struct {
		ID    string   `json:"id"`
		Names []string `json:"names"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("images --json: %v: %s", err, out)
	}
	m := map[string][]string{}
	for _, row := range rows {
		n := slices.Clone(row.Names)
		sort.Strings(n)
		m[row.ID] = n
	}
	return m
}

// exportSource makes a fresh state root holding both fixtures, imported
// through the CLI, with extra names, and returns it with the extra names.
// Its own root keeps the test apart from what other tests leave in the
// shared one.
func exportSource(t *testing.T) (cliRun, []string) {
	t.Helper()
	src := cliRun{root: freshRoot(t)}
	for _, f := range []string{"busybox.tar", "minimal-python.tar"} {
		if _, errs, code := src.run(t, "import", filepath.Join(fixturesDir(), f)); code != 0 {
			t.Fatalf("import %s: %d %s", f, code, errs)
		}
	}
	extra := map[string][]string{
		busyboxImage: {"bb-extra:1", "docker.io/pdtest/busybox:two"},
		pythonImage:  {"localhost/py:extra"},
	}
	var names []string
	for img, dsts := range extra {
		if _, errs, code := src.run(t, append([]string{"tag", img}, dsts...)...); code != 0 {
			t.Fatalf("tag %s %v: %d %s", img, dsts, code, errs)
		}
		names = append(names, dsts...)
	}
	return src, names
}

// export --all -o x.tar.gz, then import into a fresh root restores every
// image with every tag; podman load accepts the export too.
func TestCLIExportImport(t *testing.T) {
	needRoot(t)
	src, extra := exportSource(t)
	t.Run("restore", func(t *testing.T) { exportRestores(t, src) })
	t.Run("podman load", func(t *testing.T) { podmanLoadsExport(t, src, extra) })
}

func exportRestores(t *testing.T, src cliRun) {
	want := imageNames(t, src)
	if !slices.Contains(want[imageID(t, want, "docker.io/pocketdock/busybox:latest")], "localhost/bb-extra:1") {
		t.Fatalf("tag did not add localhost/bb-extra:1: %v", want)
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "x.tar.gz")
	out, errs, code := src.run(t, "export", "--all", "-o", archive)
	if code != 0 || !strings.Contains(out, "Exported 2 image(s) with 5 tag(s)") {
		t.Fatalf("export --all: %d %q %q", code, out, errs)
	}
	if b, err := os.ReadFile(archive); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("%s is not gzip-compressed (%v)", archive, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("export left %d entries in the output folder, want only the archive", len(ents))
	}

	fresh := cliRun{root: freshRoot(t)}
	if _, errs, code := fresh.run(t, "import", archive); code != 0 {
		t.Fatalf("import into a fresh root: %d %s", code, errs)
	}
	if got := imageNames(t, fresh); !equalNames(got, want) {
		t.Errorf("fresh root after import:\n got  %v\n want %v", got, want)
	}
	// The restored images run.
	name := "xfer-run"
	if _, errs, code := fresh.run(t, "create", "--image", "localhost/py:extra", "--name", name, "--pull", "never"); code != 0 {
		t.Fatalf("create from an imported tag: %d %s", code, errs)
	}
	if out, errs, code := fresh.run(t, "run", name, "--", "python3 -c 'print(\"restored\")'"); code != 0 || out != "restored\n" {
		t.Errorf("run in the restored image: %d %q %q", code, out, errs)
	}
	fresh.run(t, "rm", name)
}

func imageID(t *testing.T, m map[string][]string, name string) string {
	t.Helper()
	for id, names := range m {
		if slices.Contains(names, name) {
			return id
		}
	}
	t.Fatalf("no image named %s in %v", name, m)
	return ""
}

func equalNames(a, b map[string][]string) bool {
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

// podmanLoadsExport: podman load (a private --root/--runroot, vfs) accepts
// the exported archive and lists every tag.
func podmanLoadsExport(t *testing.T, src cliRun, names []string) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed: cannot check that podman load accepts the export")
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "x.tar")
	gz := filepath.Join(dir, "x.tgz")
	for _, p := range []string{plain, gz} {
		if _, errs, code := src.run(t, "save", "-o", p, "--all"); code != 0 {
			t.Fatalf("save -o %s: %d %s", p, code, errs)
		}
	}
	var want []string
	for _, ns := range imageNames(t, src) {
		want = append(want, ns...)
	}
	for _, n := range names {
		if !slices.ContainsFunc(want, func(w string) bool { return strings.HasSuffix(w, "/"+n) || w == n }) {
			t.Fatalf("extra name %s not in the store's names %v", n, want)
		}
	}
	sort.Strings(want)

	// podman's private storage (vfs leaves no mounts); a short path: podman
	// refuses a runroot longer than 50 characters.
	pd, err := os.MkdirTemp("", "pd-podman-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(pd); err != nil {
			t.Errorf("removing podman's private storage: %v", err)
		}
	})
	podmanRun := func(args ...string) (string, error) {
		base := []string{"--root", filepath.Join(pd, "root"), "--runroot", filepath.Join(pd, "run"),
			"--tmpdir", filepath.Join(pd, "libpod-tmp"), "--storage-driver", "vfs",
			"--cgroup-manager", "cgroupfs", "--events-backend", "none"}
		cmd := exec.Command(podman, append(base, args...)...)
		cmd.Env = append(os.Environ(), "TMPDIR="+filepath.Join(pd, "tmp"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if err := os.MkdirAll(filepath.Join(pd, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { podmanRun("rmi", "-a", "-f") })
	listed := func() []string {
		out, err := podmanRun("images", "--format", "{{.Repository}}:{{.Tag}}")
		if err != nil {
			t.Fatalf("podman images: %v: %s", err, out)
		}
		var got []string
		for _, f := range strings.Fields(out) {
			if f != "<none>:<none>" { // untagged images (none of the fixtures)
				got = append(got, f)
			}
		}
		sort.Strings(got)
		return got
	}
	if out, err := podmanRun("load", "-i", plain); err != nil {
		t.Fatalf("podman load -i %s: %v\n%s", plain, err, out)
	}
	if got := listed(); !slices.Equal(got, want) {
		t.Errorf("podman lists %v after loading the export, want %v", got, want)
	}

	// The gzip'd export: some podman versions (4.3, podman issue #15944)
	// load no gzip'd docker-archive at all; then the same tar gzip'd by Go's
	// compress/gzip must fail the same way, or the fault is ours.
	if _, err := podmanRun("rmi", "-a", "-f"); err != nil {
		t.Fatal(err)
	}
	out, err := podmanRun("load", "-i", gz)
	if err != nil {
		control := filepath.Join(dir, "control.tar.gz")
		gzipTo(t, plain, control)
		if cout, cerr := podmanRun("load", "-i", control); cerr == nil {
			t.Fatalf("podman loads a gzip'd docker-archive but not ours: %v\n%s", err, out)
		} else {
			ver, _ := exec.Command(podman, "--version").Output()
			t.Logf("%s loads no gzip'd docker-archive (podman issue #15944): %s; checked the plain tar only", strings.TrimSpace(string(ver)), strings.TrimSpace(lastLine(cout)))
		}
		return
	}
	if got := listed(); !slices.Equal(got, want) {
		t.Errorf("podman lists %v after loading the gzip'd export, want %v", got, want)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func gzipTo(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// ociLayoutOf copies the docker-archive fixture into an OCI layout folder
// with containers/image, naming it ref.
func ociLayoutOf(t *testing.T, fixture, dir, ref string) {
	t.Helper()
	src, err := dockerarchive.ParseReference(fixture)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := ocilayout.NewReference(dir, ref)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Destroy()
	sys := &imgtypes.SystemContext{BigFilesTemporaryDir: t.TempDir()}
	if _, err := copy.Image(context.Background(), pc, dst, src, &copy.Options{SourceCtx: sys, DestinationCtx: sys}); err != nil {
		t.Fatalf("making an OCI layout: %v", err)
	}
}

// import DIR takes an OCI layout; load -i FILE is docker's spelling; tag
// names images like podman.
func TestCLIImportOCILayoutLoadAndTag(t *testing.T) {
	needRoot(t)
	fresh := cliRun{root: freshRoot(t)}
	layout := filepath.Join(t.TempDir(), "layout")
	ociLayoutOf(t, filepath.Join(fixturesDir(), "busybox.tar"), layout, "docker.io/pdtest/ocibox:v1")

	out, errs, code := fresh.run(t, "import", layout, "--json")
	if code != 0 {
		t.Fatalf("import OCI layout: %d %s", code, errs)
	}
	var imported []struct {
		ID    string   `json:"id"`
		Names []string `json:"names"`
	}
	if err := json.Unmarshal([]byte(out), &imported); err != nil || len(imported) != 1 ||
		!slices.Equal(imported[0].Names, []string{"docker.io/pdtest/ocibox:v1"}) {
		t.Fatalf("import OCI layout --json: %v %s", err, out)
	}
	// A folder that is no layout: 125, naming it.
	notLayout := t.TempDir()
	if _, errs, code := fresh.run(t, "import", notLayout); code != 125 || !strings.Contains(errs, notLayout) || !strings.Contains(errs, "oci-layout") {
		t.Errorf("import of a plain folder: %d %q", code, errs)
	}

	// docker load -i habit, then tag.
	if _, errs, code := fresh.run(t, "load", "-i", filepath.Join(fixturesDir(), "busybox.tar")); code != 0 {
		t.Fatalf("load -i: %d %s", code, errs)
	}
	if _, errs, code := fresh.run(t, "tag", "pocketdock/busybox", "mybox", "docker.io/me/box:2"); code != 0 {
		t.Fatalf("tag: %d %s", code, errs)
	}
	names := imageNames(t, fresh)
	id := imageID(t, names, "docker.io/pocketdock/busybox:latest")
	for _, n := range []string{"localhost/mybox:latest", "docker.io/me/box:2"} {
		if !slices.Contains(names[id], n) {
			t.Errorf("after tag, %s has names %v, want %s", id[:12], names[id], n)
		}
	}
	// The new name resolves for create.
	if _, errs, code := fresh.run(t, "create", "--image", "mybox", "--name", "tagged", "--pull", "never"); code != 0 {
		t.Errorf("create --image mybox: %d %s", code, errs)
	} else {
		fresh.run(t, "rm", "tagged")
	}
	// docker save > FILE and docker load < FILE: the archive on stdout and stdin.
	archive, errs, code := fresh.run(t, "save", "mybox")
	if code != 0 || len(archive) < 1024 {
		t.Fatalf("save to stdout: %d, %d bytes, %q", code, len(archive), errs)
	}
	other := cliRun{root: freshRoot(t), stdin: archive}
	if out, errs, code := other.run(t, "load"); code != 0 || !strings.Contains(out, "localhost/mybox:latest") {
		t.Fatalf("load from stdin: %d %q %q", code, out, errs)
	}
	if got := imageNames(t, other); !slices.Equal(got[id], []string{"localhost/mybox:latest"}) {
		t.Errorf("after load from stdin: %v, want only localhost/mybox:latest on %s", got, id[:12])
	}
	if ents, _ := os.ReadDir(filepath.Join(other.root, "storage", "tmp")); len(ents) != 0 {
		t.Errorf("load from stdin left %d entries in storage/tmp", len(ents))
	}
	empty := cliRun{root: other.root, stdin: ""}
	if _, errs, code := empty.run(t, "load"); code != 125 || !strings.Contains(errs, "empty") {
		t.Errorf("load of an empty stdin: %d %q; want 125 and a message saying it is empty", code, errs)
	}

	// Bad input: 125 and nothing changed.
	before := imageNames(t, fresh)
	for _, args := range [][]string{
		{"tag", "pocketdock/no-such", "x"},
		{"tag", "pocketdock/busybox", "Bad Name!"},
		{"export", "pocketdock/no-such", "-o", filepath.Join(t.TempDir(), "x.tar")},
		{"export", "--all", "-o", filepath.Join(t.TempDir(), "missing", "x.tar")},
	} {
		if _, errs, code := fresh.run(t, args...); code != 125 || !strings.HasPrefix(errs, "pocketdock: ") {
			t.Errorf("%v: %d %q, want 125", args, code, errs)
		}
	}
	if after := imageNames(t, fresh); !equalNames(before, after) {
		t.Errorf("bad input changed the images: %v → %v", before, after)
	}
}

// The result of a build without -t is listed untagged, as docker shows a
// <none> image: "names": [] in images --json, <none> in the table, its ID in
// images -q; build --prune-cache keeps it (it is no cache entry) and rmi
// by ID removes it.
func TestImagesUntaggedBuildResult(t *testing.T) {
	r := cliRun{root: freshRoot(t)}
	if _, errs, code := r.run(t, "import", filepath.Join(fixturesDir(), "busybox.tar")); code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	b := r
	b.stdin = "FROM pocketdock/busybox\nLABEL untagged=yes\nWORKDIR /untagged\n"
	out, errs, code := b.run(t, "build", "-f", "-", "--network", "none", "--pull", "never", t.TempDir())
	if code != 0 {
		t.Fatalf("build: %d %s", code, errs)
	}
	id := strings.TrimSpace(out)
	untagged := func() []string {
		t.Helper()
		out, errs, code := r.run(t, "images", "--json")
		if code != 0 {
			t.Fatalf("images --json: %d %s", code, errs)
		}
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("images --json: %v: %s", err, out)
		}
		var ids []string
		for _, row := range rows {
			names, ok := row["names"].([]any)
			if !ok {
				t.Errorf("images --json row %v: names is %#v, want a list", row["id"], row["names"])
			} else if len(names) == 0 {
				ids = append(ids, row["id"].(string))
			}
		}
		return ids
	}
	if got := untagged(); len(got) != 1 || got[0] != id {
		t.Fatalf("untagged images %v, want only the build's result %s (the WORKDIR step before it is cache)", got, id)
	}
	if table, _, _ := r.run(t, "images"); !strings.Contains(table, "<none>") || !strings.Contains(table, id[:12]) {
		t.Errorf("images table lacks the <none> row of %s:\n%s", id[:12], table)
	}
	if _, errs, code := r.run(t, "build", "--prune-cache"); code != 0 {
		t.Fatalf("build --prune-cache: %d %s", code, errs)
	}
	if got := untagged(); len(got) != 1 || got[0] != id {
		t.Errorf("after --prune-cache: untagged images %v, want %s kept", got, id)
	}
	if _, errs, code := r.run(t, "rmi", id[:12]); code != 0 {
		t.Fatalf("rmi %s: %d %s", id[:12], code, errs)
	}
	if got := untagged(); len(got) != 0 {
		t.Errorf("after rmi: untagged images %v", got)
	}
}
