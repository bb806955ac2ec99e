package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Found by the breaker session: bad inputs to the issue-7 commands (export,
// import, build, projects) each fail with a clear error, exit code 125 and
// nothing left behind, and never touch host files outside what they name.

// export -o onto an existing device, fifo or socket is refused: the archive
// used to be renamed over the node (export -o /dev/full replaced the device
// with a 400 MB regular file). The node stays what it was, and no temporary
// file is left in its folder.
func TestBreakExportOverDevice(t *testing.T) {
	r, _ := exportSource(t)
	dir := t.TempDir()
	dev := filepath.Join(dir, "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, int(mkdev(1, 3))); err != nil {
		t.Fatalf("mknod: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.tar")
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{dev, fifo, link} {
		_, errs, code := r.run(t, "export", busyboxImage, "-o", target)
		if code != 125 || !strings.Contains(errs, "invalid argument") || !strings.Contains(errs, target) {
			t.Errorf("export -o %s: code %d, stderr %q; want 125 naming the path as an invalid argument", target, code, errs)
		}
	}
	if fi, err := os.Stat(dev); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("%s is no longer a character device: %v %v", dev, fi.Mode(), err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("%s is no longer a fifo: %v", fifo, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer a symlink: %v", link, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("export left files in %s: %v", dir, names)
	}
	// A regular file is still replaced.
	file := filepath.Join(dir, "x.tar")
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := r.run(t, "export", busyboxImage, "-o", file); code != 0 {
		t.Fatalf("export over a regular file: %d %s", code, errs)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() < 1000 {
		t.Errorf("export over a regular file did not replace it: %v", err)
	}
}

func mkdev(major, minor uint32) uint64 {
	return uint64(major)<<8 | uint64(minor)
}

// tag SRC good bad adds neither name: every name is checked first (the
// good one used to be added before the bad one failed).
func TestBreakTagAllOrNothing(t *testing.T) {
	r, _ := exportSource(t)
	before := imageNames(t, r)
	_, errs, code := r.run(t, "tag", busyboxImage, "brk-good:1", "bad name", "brk-good:2")
	if code != 125 || !strings.Contains(errs, `"bad name"`) {
		t.Errorf("tag with a bad name: code %d, stderr %q; want 125 naming it", code, errs)
	}
	after := imageNames(t, r)
	for id, names := range after {
		if strings.Join(names, ",") != strings.Join(before[id], ",") {
			t.Errorf("image %s: names %v after a failed tag, were %v", id, names, before[id])
		}
	}
	if _, errs, code := r.run(t, "tag", busyboxImage, "brk-good:1", "brk-good:2"); code != 0 {
		t.Fatalf("tag with good names: %d %s", code, errs)
	}
	found := 0
	for _, names := range imageNames(t, r) {
		for _, n := range names {
			if strings.HasPrefix(n, "localhost/brk-good:") {
				found++
			}
		}
	}
	if found != 2 {
		t.Errorf("tag with two good names gave %d of them", found)
	}
}

// overlayMountsUnder lists the mount points below dir/storage/overlay (the
// layer mounts of state root dir).
func overlayMountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/storage/overlay/") {
			out = append(out, f[4])
		}
	}
	return out
}

// layerMountCounts reads containers/storage's mount counts of state root
// dir (run/storage/overlay-layers/mountpoints.json): layer ID → count.
func layerMountCounts(t *testing.T, dir string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "run", "storage", "overlay-layers", "mountpoints.json"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]int{}
	}
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		ID    string `json:"id"`
		Count int    `json:"count"`
	}
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatalf("mountpoints.json: %v: %s", err, data)
	}
	out := map[string]int{}
	for _, r := range recs {
		out[r.ID] = r.Count
	}
	return out
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// A build killed with SIGKILL while it has its base image mounted (here
// during an ADD of a URL whose server stalls) used to leave that read-only
// overlay mount behind for good (containers/storage's mount count never
// dropped), and the partial download in the host's /tmp. The next command
// that opens the store unmounts it, and the download sat in the store's
// per-process tmp, which the next command removes.
func TestBreakBuildKilledUnmountsImage(t *testing.T) {
	r := cliRun{root: freshRoot(t)}
	if _, errs, code := r.run(t, "import", filepath.Join(fixturesDir(), "busybox.tar")); code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Only the build's download counts: a client of a test running
		// beside this one (go test runs packages side by side) may dial
		// this port, having found it closed a moment before.
		if req.URL.Path != "/big.bin" {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Length", "1048576")
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case started <- struct{}{}:
		default:
		}
		select { // stall: the build waits for the rest with the image mounted
		case <-release:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	cmd := exec.Command(cliBin, "--root", r.root, "build", "-f", "-", "--network", "none", "--pull", "never", t.TempDir())
	cmd.Stdin = strings.NewReader("FROM pocketdock/busybox\nADD " + srv.URL + "/big.bin /big.bin\n")
	var buildErr bytes.Buffer
	cmd.Stderr = &buildErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		t.Fatal("the build did not fetch the URL within 60 s")
	}
	// The build marks, then mounts the image before it fetches.
	pid := cmd.Process.Pid
	markerGlob := filepath.Join(r.root, "run", "storage", "pocketdock-image-mounts", strconv.Itoa(pid)+"-*")
	var markers []string
	mounted := false
	for deadline := time.Now().Add(10 * time.Second); !(mounted && len(markers) > 0) && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		markers, _ = filepath.Glob(markerGlob)
		mounted = len(overlayMountsUnder(t, r.root)) > 0
	}
	counts := layerMountCounts(t, r.root)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	_ = cmd.Wait()

	if len(markers) == 0 {
		t.Fatalf("the build in its ADD has no image mount marker (%s; build stderr %q): the test no longer covers a killed mount", markerGlob, buildErr.String())
	}
	if !mounted {
		// Seen twice under a loaded go test ./..., never reproduced
		// alone or under load: log what the store recorded. The checks
		// below (marker, mount count, cleanup) still hold the behaviour.
		data, _ := os.ReadFile("/proc/self/mountinfo")
		t.Logf("the build marked an image mount but no overlay mount under %s showed in 10 s; layer mount counts %v; build stderr %q; mountinfo:\n%s", r.root, counts, buildErr.String(), data)
	}
	if n := sumCounts(counts); n == 0 {
		t.Errorf("containers/storage records no mounted layer while the build was in its ADD: %v", counts)
	}
	if m, _ := filepath.Glob(markerGlob); len(m) == 0 {
		t.Errorf("the killed build's mount marker went away with it")
	}
	procTmp, _ := filepath.Glob(filepath.Join(r.root, "storage", "tmp", "proc-"+strconv.Itoa(pid)+"-*", "add-url-*"))
	if len(procTmp) == 0 {
		t.Errorf("the killed build's download is not in the store's tmp (proc-%d-*/add-url-*)", pid)
	}

	// Any next command opening the store cleans up after the killed one.
	if _, errs, code := r.run(t, "images"); code != 0 {
		t.Fatalf("images: %d %s", code, errs)
	}
	if m := overlayMountsUnder(t, r.root); len(m) != 0 {
		t.Errorf("image mounts of the killed build are still there: %v", m)
	}
	if n := sumCounts(layerMountCounts(t, r.root)); n != 0 {
		t.Errorf("containers/storage still counts %d layer mounts after the cleanup", n)
	}
	if m, _ := filepath.Glob(markerGlob); len(m) != 0 {
		t.Errorf("the killed build's mount marker is still there: %v", m)
	}
	if left, _ := filepath.Glob(filepath.Join(r.root, "storage", "tmp", "proc-"+strconv.Itoa(pid)+"-*")); len(left) != 0 {
		t.Errorf("the killed build's tmp is still there: %v", left)
	}
	// And a build now works, mounting and unmounting the image again.
	after := r
	after.stdin = "FROM pocketdock/busybox\nWORKDIR /brk/after\n" // WORKDIR mounts the image
	if _, errs, code := after.run(t, "build", "-f", "-", "--network", "none", "--pull", "never", "-t", "brk:after", t.TempDir()); code != 0 {
		t.Fatalf("build after the kill: %d %s", code, errs)
	}
	if m := overlayMountsUnder(t, r.root); len(m) != 0 {
		t.Errorf("mounts after a clean build: %v", m)
	}
}

// import of a fifo (bash's <(…), /dev/stdin) reads it once into the store's
// tmp; it used to fail with "illegal seek". Nothing stays in the tmp.
func TestBreakImportFromFifo(t *testing.T) {
	r := cliRun{root: freshRoot(t)}
	fifo := filepath.Join(t.TempDir(), "in.tar")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(fixturesDir(), "busybox.tar"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		// Opening for writing waits for the reader; an import that never
		// opens the fifo leaves this goroutine blocked until the test ends.
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			_, _ = f.Write(data)
			f.Close()
		}
	}()
	out, errs, code := r.run(t, "import", fifo)
	if code != 0 || !strings.Contains(out, "pocketdock/busybox") {
		t.Fatalf("import of a fifo: %d %q %q", code, out, errs)
	}
	if len(imageNames(t, r)) != 1 {
		t.Errorf("import of a fifo: images %v", imageNames(t, r))
	}
	// "-" is stdin, as podman import - and docker load -i - take it.
	for _, args := range [][]string{{"import", "-", "--tag", "brk/dash:1"}, {"load", "-i", "-", "--tag", "brk/dash:2"}} {
		in := r
		in.stdin = string(data)
		if out, errs, code := in.run(t, args...); code != 0 || !strings.Contains(out, "brk/dash") {
			t.Errorf("%v: %d %q %q", args, code, out, errs)
		}
	}
	// An empty stream is an invalid argument, named.
	_, errs, code = r.run(t, "import", "/dev/null")
	if code != 125 || !strings.Contains(errs, "/dev/null") || !strings.Contains(errs, "empty") {
		t.Errorf("import /dev/null: %d %q; want 125 saying it is empty", code, errs)
	}
	// So is a path that does not exist.
	missing := filepath.Join(t.TempDir(), "no-such.tar")
	_, errs, code = r.run(t, "import", missing)
	if code != 125 || !strings.Contains(errs, "invalid argument") || !strings.Contains(errs, missing) {
		t.Errorf("import of a missing file: %d %q; want 125, an invalid argument naming it", code, errs)
	}
	ents, _ := os.ReadDir(filepath.Join(r.root, "storage", "tmp"))
	for _, e := range ents {
		t.Errorf("left in the store's tmp: %s", e.Name())
	}
}

// A build context whose files link out of it reads nothing outside: the
// default Dockerfile and .dockerignore (both used to be read through a
// symlink to any host file), and COPY/ADD sources given as ../, as an
// absolute path, or as a symlink leading out. Each fails with 125 naming the
// file; no image is made.
func TestBreakBuildContextEscapes(t *testing.T) {
	r := cliRun{root: freshRoot(t)}
	if _, errs, code := r.run(t, "import", filepath.Join(fixturesDir(), "busybox.tar")); code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	outside := t.TempDir()
	secretDockerfile := filepath.Join(outside, "Dockerfile")
	if err := os.WriteFile(secretDockerfile, []byte("FROM pocketdock/busybox\nLABEL secret=outside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctxWith := func(t *testing.T, files map[string]string, links map[string]string) string {
		dir := t.TempDir()
		for n, body := range files {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for n, target := range links {
			if err := os.Symlink(target, filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	rel, err := filepath.Rel("/", outside)
	if err != nil {
		t.Fatal(err)
	}
	up := strings.Repeat("../", 30) + rel
	copyOf := func(src string) map[string]string {
		return map[string]string{"Dockerfile": "FROM pocketdock/busybox\nCOPY " + src + " /got\n"}
	}
	for _, c := range []struct {
		name  string
		files map[string]string
		links map[string]string
		want  string
	}{
		{"Dockerfile-abs-link", nil, map[string]string{"Dockerfile": secretDockerfile}, "Dockerfile"},
		{"Dockerfile-rel-link", nil, map[string]string{"Dockerfile": up + "/Dockerfile"}, "Dockerfile"},
		{"dockerignore-link", map[string]string{"Dockerfile": "FROM pocketdock/busybox\nCOPY . /c/\n"}, map[string]string{".dockerignore": secret}, ".dockerignore"},
		{"copy-dotdot", copyOf("../../../../../../../../../../../.." + outside + "/secret.txt"), nil, "secret.txt"},
		{"copy-abs", copyOf(secret), nil, "secret.txt"},
		{"copy-abs-link", copyOf("link"), map[string]string{"link": secret}, `"link"`},
		{"copy-rel-link", copyOf("link"), map[string]string{"link": up + "/secret.txt"}, `"link"`},
		{"copy-dir-link", copyOf("d/secret.txt"), map[string]string{"d": outside}, "d/secret.txt"},
		{"add-abs-link", map[string]string{"Dockerfile": "FROM pocketdock/busybox\nADD link /got\n"}, map[string]string{"link": secret}, `"link"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := ctxWith(t, c.files, c.links)
			_, errs, code := r.run(t, "build", "--network", "none", "--pull", "never", "-t", "brk-escape:"+strings.ToLower(c.name), dir)
			if code != 125 || !strings.Contains(errs, c.want) {
				t.Errorf("build: code %d, stderr %q; want 125 naming %s", code, errs, c.want)
			}
			for _, names := range imageNames(t, r) {
				for _, n := range names {
					if strings.Contains(n, "brk-escape") {
						t.Errorf("image %s was made", n)
					}
				}
			}
		})
	}
}

// COPY/ADD or WORKDIR below a path that is a file in the image used to
// replace the file with a mode-000 folder in the new layer (COPY x
// /etc/passwd/y left an image whose /etc/passwd was a folder, so no RUN
// could start). Now each fails naming the file; copying a file onto a file
// still replaces it.
func TestBreakBuildCopyBelowAFile(t *testing.T) {
	r := cliRun{root: freshRoot(t)}
	if _, errs, code := r.run(t, "import", filepath.Join(fixturesDir(), "busybox.tar")); code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	ctx := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctx, "f.txt"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(ctx, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "dir", "g"), []byte("g"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(dockerfile string) (string, int) {
		b := r
		b.stdin = "FROM pocketdock/busybox\n" + dockerfile
		_, errs, code := b.run(t, "build", "-f", "-", "--network", "none", "--pull", "never", ctx)
		return errs, code
	}
	for _, df := range []string{
		"COPY f.txt /etc/passwd/x\n",
		"COPY f.txt /etc/passwd/\n",
		"COPY dir /etc/passwd\n",
		"ADD f.txt /etc/passwd/sub/dir/\n",
		"WORKDIR /etc/passwd/x\n",
	} {
		errs, code := build(df)
		if code != 125 || !strings.Contains(errs, `"/etc/passwd`) || !strings.Contains(errs, "not a folder") {
			t.Errorf("%q: code %d, stderr %q; want 125 naming /etc/passwd as not a folder", df, code, errs)
		}
	}
	if errs, code := build("COPY f.txt /etc/group\nRUN test \"$(cat /etc/group)\" = new && test -f /etc/passwd\n"); code != 0 {
		t.Errorf("COPY of a file onto a file: %d %s", code, errs)
	}
}
