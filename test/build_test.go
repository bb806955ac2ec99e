package test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/pocketdock/pocketdock"
)

// everyInstruction uses every instruction the builder supports. Its RUN
// prints RUNMARKER, so a fully cached rebuild shows no RUN output.
const everyInstruction = `# syntax is docker's; comments and blank lines are fine
ARG BASE=pocketdock/busybox
FROM ${BASE} AS builder
ARG GREETING=hello
RUN echo "$GREETING from the builder stage" > /built.txt

FROM ${BASE}
ARG VERSION=0.1
ARG UNSET
ENV APP_VERSION=$VERSION APP_HOME=/opt/app
LABEL org.example.name="demo" org.example.version=$VERSION
WORKDIR $APP_HOME
COPY . ctx/
COPY --chown=sandbox:1000 owned.txt ./
COPY --chmod=0755 run.sh /usr/local/bin/
COPY --from=builder /built.txt ./
COPY --from=pocketdock/busybox /bin/busybox /opt/copied/busybox
ADD bundle.tar.gz /opt/bundle/
SHELL ["/bin/sh", "-eu", "-c"]
RUN echo "version=$APP_VERSION arg=$VERSION unset=${UNSET:-none}" > version.txt && mkdir -p /data && echo RUN""MARKER
USER sandbox
EXPOSE 8080 53/udp
VOLUME /data
HEALTHCHECK --interval=30s --timeout=3s CMD test -f /opt/app/version.txt
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /opt/app/version.txt"]
`

// finalLayers is how many steps of everyInstruction's last stage make a
// layer (RUN, COPY, ADD, and the WORKDIR that creates /opt/app);
// cachedSteps adds the builder stage's RUN and the last stage's config-only
// commit: what a rebuild takes from the cache.
const (
	finalLayers = 8
	cachedSteps = finalLayers + 2
)

// buildContext writes a build context with everyInstruction, a
// .dockerignore and the files it copies; it returns the folder.
func buildContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile":    everyInstruction,
		".dockerignore": "secret\n*.log\n",
		"a.txt":         "plain file\n",
		"debug.log":     "ignored\n",
		"secret/key":    "must not be copied\n",
		"sub/b.txt":     "in a folder\n",
		"owned.txt":     "chowned\n",
		"run.sh":        "#!/bin/sh\necho script-ran\n",
	}
	for p, data := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1000, Gid: 1000, Size: 9},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("from tar\n"))
		}
	}
	tw.Close()
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "bundle.tar.gz"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// imageConfig reads the full image config of id from the test root's store.
func imageConfig(t *testing.T, id string) dockerspec.DockerOCIImage {
	t.Helper()
	s := testImages(t)
	raw, err := s.ConfigJSON(id)
	if err != nil {
		t.Fatal(err)
	}
	var img dockerspec.DockerOCIImage
	if err := json.Unmarshal(raw, &img); err != nil {
		t.Fatal(err)
	}
	return img
}

func imageCount(t *testing.T) int {
	t.Helper()
	list, err := pocketdock.ListImages(context.Background(), stateRoot)
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// pendingLayers lists layer names that mark a layer no image has taken yet.
func pendingLayers(t *testing.T) []string {
	t.Helper()
	s := testImages(t)
	layers, err := s.Storage().Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range layers {
		for _, n := range l.Names {
			if strings.Contains(n, "-pending-") {
				out = append(out, n)
			}
		}
	}
	return out
}

func removeImageOnCleanup(t *testing.T, ref string) {
	t.Cleanup(func() {
		if err := pocketdock.RemoveImage(context.Background(), stateRoot, ref); err != nil && !errors.Is(err, pocketdock.ErrImageNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// TestBuildEveryInstruction builds everyInstruction from the busybox
// fixture and checks the image config, a container made from it, the
// layer cache (a rebuild runs nothing and gives the same image), that
// `images` shows only the result, and that no build container is left.
func TestBuildEveryInstruction(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dir := buildContext(t)
	tag := "build-test/every:1"
	removeImageOnCleanup(t, tag)
	before := hostState(t)
	imagesBefore := imageCount(t)
	opts := pocketdock.BuildOptions{Root: stateRoot, ContextDir: dir, Tags: []string{tag}, Network: "none", Pull: "never",
		BuildArgs: map[string]string{"VERSION": "2.5"}}
	var progress bytes.Buffer
	opts.Progress = &progress
	t0 := time.Now()
	id, err := pocketdock.Build(ctx, opts)
	cold := time.Since(t0)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, progress.String())
	}
	out := progress.String()
	if !strings.Contains(out, "STEP 1/24: FROM ${BASE} AS builder") || !strings.Contains(out, "RUNMARKER") {
		t.Errorf("progress lacks the STEP lines or the RUN output:\n%s", out)
	}
	if !strings.Contains(out, "--> running in ") {
		t.Errorf("progress names no build container:\n%s", out)
	}
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Errorf("the build left %v", left)
	}
	if n := imageCount(t); n != imagesBefore+1 {
		t.Errorf("images lists %d images, want %d (only the result added; intermediates hidden)", n, imagesBefore+1)
	}
	if p := pendingLayers(t); len(p) > 0 {
		t.Errorf("layers still named pending after the build: %v", p)
	}

	img := imageConfig(t, id)
	c := img.Config
	for _, want := range []string{"APP_VERSION=2.5", "APP_HOME=/opt/app"} {
		if !slices.Contains(c.Env, want) {
			t.Errorf("env %v lacks %s", c.Env, want)
		}
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e, "VERSION=") || strings.HasPrefix(e, "GREETING=") {
			t.Errorf("ARG %s leaked into the image's env", e)
		}
	}
	if c.User != "sandbox" || c.WorkingDir != "/opt/app" || c.StopSignal != "SIGINT" {
		t.Errorf("user %q workdir %q stopsignal %q", c.User, c.WorkingDir, c.StopSignal)
	}
	if c.Labels["org.example.name"] != "demo" || c.Labels["org.example.version"] != "2.5" {
		t.Errorf("labels %v", c.Labels)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 2 {
		t.Errorf("exposed ports %v", c.ExposedPorts)
	} else if _, ok := c.ExposedPorts["53/udp"]; !ok {
		t.Errorf("exposed ports %v", c.ExposedPorts)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("volumes %v", c.Volumes)
	}
	if h := c.Healthcheck; h == nil || !slices.Equal(h.Test, []string{"CMD-SHELL", "test -f /opt/app/version.txt"}) || h.Interval != 30*time.Second || h.Timeout != 3*time.Second {
		t.Errorf("healthcheck %+v", c.Healthcheck)
	}
	if !slices.Equal(c.Entrypoint, []string{"/bin/sh", "-c"}) || !slices.Equal(c.Cmd, []string{"cat /opt/app/version.txt"}) {
		t.Errorf("entrypoint %v cmd %v", c.Entrypoint, c.Cmd)
	}
	if !slices.Equal(c.Shell, []string{"/bin/sh", "-eu", "-c"}) {
		t.Errorf("shell %v", c.Shell)
	}
	base := imageConfig(t, busyboxImage)
	if got, want := len(img.RootFS.DiffIDs), len(base.RootFS.DiffIDs)+finalLayers; got != want {
		t.Errorf("%d layers, want %d (base + one per RUN/COPY/ADD/WORKDIR)", got, want)
	}

	ctr := newContainer(t, pocketdock.Options{Image: tag})
	info, err := ctr.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Cmd, c.Cmd) || !slices.Equal(info.Entrypoint, c.Entrypoint) {
		t.Errorf("container cmd %v entrypoint %v", info.Cmd, info.Entrypoint)
	}
	checks := []struct{ cmd, want string }{
		{"id -un; id -u; pwd; echo $APP_VERSION", "sandbox\n1000\n/opt/app\n2.5\n"},
		{"cat version.txt", "version=2.5 arg=2.5 unset=none\n"},
		{"cd ctx && ls -A | sort | tr '\\n' ' '", ".dockerignore Dockerfile a.txt bundle.tar.gz owned.txt run.sh sub "},
		{"cat ctx/a.txt ctx/sub/b.txt", "plain file\nin a folder\n"},
		{"stat -c '%u:%g %a' owned.txt ctx/a.txt /usr/local/bin/run.sh", "1000:1000 644\n0:0 644\n0:0 755\n"},
		{"run.sh", "script-ran\n"},
		{"cat built.txt", "hello from the builder stage\n"},
		{"/opt/copied/busybox echo copied-binary; stat -c %a /opt/copied", "copied-binary\n755\n"},
		{"cat /opt/bundle/d/f; stat -c '%u %a' /opt/bundle/d/f", "from tar\n1000 640\n"},
		{"test -d /data && echo yes", "yes\n"},
	}
	for _, ch := range checks {
		res, err := ctr.Run(ctx, ch.cmd)
		if err != nil || res.Stdout != ch.want {
			t.Errorf("%s: got %q (stderr %q, exit %d, %v), want %q", ch.cmd, res.Stdout, res.Stderr, res.ExitCode, err, ch.want)
		}
	}

	// A second build runs nothing: every layer step comes from the cache.
	progress.Reset()
	t1 := time.Now()
	id2, err := pocketdock.Build(ctx, opts)
	warm := time.Since(t1)
	if err != nil {
		t.Fatalf("rebuild: %v\n%s", err, progress.String())
	}
	out = progress.String()
	if id2 != id {
		t.Errorf("rebuild gave %s, want the cached %s", id2, id)
	}
	if strings.Contains(out, "RUNMARKER") || strings.Count(out, "--> cached") != cachedSteps {
		t.Errorf("rebuild was not fully cached (want %d cached steps and no RUN output):\n%s", cachedSteps, out)
	}
	t.Logf("build of the every-instruction Dockerfile: cold %s, warm %s", cold.Round(time.Millisecond), warm.Round(time.Millisecond))

	// --no-cache runs the steps again; the tag moves to the new image and
	// the old result joins the hidden cache: images still shows one.
	progress.Reset()
	opts.NoCache = true
	id3, err := pocketdock.Build(ctx, opts)
	if err != nil {
		t.Fatalf("no-cache build: %v", err)
	}
	if id3 == id || !strings.Contains(progress.String(), "RUNMARKER") || strings.Contains(progress.String(), "--> cached") {
		t.Errorf("--no-cache: id %s (old %s), progress:\n%s", id3, id, progress.String())
	}
	if n := imageCount(t); n != imagesBefore+1 {
		t.Errorf("after a rebuild images lists %d, want %d", n, imagesBefore+1)
	}
}

// TestBuildUnknownInstruction: an unknown instruction fails before any step
// runs, naming its line, and leaves nothing (no container, layer or image).
func TestBuildUnknownInstruction(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	text := "FROM pocketdock/busybox\nRUN echo SHOULD-NOT-RUN > /x\n\nFROBNICATE now\n"
	before := rootState(t)
	var progress bytes.Buffer
	_, err := pocketdock.Build(context.Background(), pocketdock.BuildOptions{Root: stateRoot, DockerfileText: []byte(text),
		ContextDir: dir, Tags: []string{"build-test/bad"}, Network: "none", Pull: "never", Progress: &progress})
	var ie *pocketdock.BuildInstructionError
	if !errors.As(err, &ie) || !errors.Is(err, pocketdock.ErrInvalidArgument) {
		t.Fatalf("got %v, want a BuildInstructionError wrapping ErrInvalidArgument", err)
	}
	if ie.Line != 4 || ie.Instruction != "FROBNICATE" || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("error %q: line %d instruction %q, want line 4 FROBNICATE", err, ie.Line, ie.Instruction)
	}
	if progress.Len() != 0 {
		t.Errorf("steps ran before the check:\n%s", progress.String())
	}
	if left := diffState(before, rootState(t)); len(left) > 0 {
		t.Errorf("left %v", left)
	}
}

// TestBuildRunFails: a failing RUN returns its exit code and leaves no
// container (nor layer, image or temporary file).
func TestBuildRunFails(t *testing.T) {
	needRoot(t)
	text := "FROM pocketdock/busybox\nENV X=1\nRUN echo partial > /p; echo to-stderr >&2; exit 3\n"
	before := rootState(t)
	var progress bytes.Buffer
	_, err := pocketdock.Build(context.Background(), pocketdock.BuildOptions{Root: stateRoot, DockerfileText: []byte(text),
		Network: "none", Pull: "never", Progress: &progress})
	var re *pocketdock.BuildError
	if !errors.As(err, &re) || re.ExitCode != 3 || re.Line != 3 {
		t.Fatalf("got %v, want a BuildError with exit code 3 on line 3", err)
	}
	if !strings.Contains(err.Error(), "exited with code 3") || !strings.Contains(progress.String(), "to-stderr") {
		t.Errorf("error %q / progress %q", err, progress.String())
	}
	if left := diffState(before, rootState(t)); len(left) > 0 {
		t.Errorf("left %v", left)
	}
	if !strings.Contains(progress.String(), "running in") {
		t.Errorf("no build container ran (progress %q)", progress.String())
	}
}

// TestBuildNetworkModes: RUN steps see the host's interfaces by default
// (network host, no traffic sent) and only loopback with network none.
func TestBuildNetworkModes(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	hostDev, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	hostIfaces := strings.Count(string(hostDev), "\n") - 2
	before := hostState(t)
	var progress bytes.Buffer
	for _, mode := range []string{"", "none"} {
		// The mode is in the text, so the two builds never share a cache entry.
		text := "FROM pocketdock/busybox\nRUN tail -n +3 /proc/net/dev | wc -l > /ifaces # mode=" + mode + "\n"
		id, err := pocketdock.Build(ctx, pocketdock.BuildOptions{Root: stateRoot, DockerfileText: []byte(text), Network: mode, Pull: "never", NoCache: true, Progress: &progress})
		if err != nil {
			t.Fatalf("network %q: %v", mode, err)
		}
		c := newContainer(t, pocketdock.Options{Image: id})
		res, err := c.Run(ctx, "cat /ifaces")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := strconv.Atoi(strings.TrimSpace(res.Stdout))
		want := 1 // lo
		if mode == "" {
			want = hostIfaces
		}
		if got != want {
			t.Errorf("network %q: RUN saw %d interfaces, want %d", mode, got, want)
		}
		if err := c.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Errorf("left %v", left)
	}
	if _, err := pocketdock.Build(ctx, pocketdock.BuildOptions{Root: stateRoot, DockerfileText: []byte("FROM pocketdock/busybox\n"), Network: "bridge"}); !errors.Is(err, pocketdock.ErrInvalidArgument) || !strings.Contains(err.Error(), "bridge") {
		t.Errorf("network bridge: got %v, want ErrInvalidArgument naming it", err)
	}
}

// TestBuildCLI runs `pocketdock build` as a user would.
func TestBuildCLI(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	df := filepath.Join(dir, "app.Dockerfile")
	os.WriteFile(df, []byte("FROM pocketdock/busybox\nARG MSG\nCOPY hello.txt /hello.txt\nRUN echo \"$MSG\" >> /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hi\n"), 0o644)
	tag := "build-test/cli"
	removeImageOnCleanup(t, tag)
	out, errs, code := cli(t, "build", "-f", df, "-t", tag, "--network", "none", "--pull", "never", "--build-arg", "MSG=from-arg", dir)
	if code != 0 || len(strings.TrimSpace(out)) != 64 || !strings.Contains(errs, "STEP 4/5: RUN") {
		t.Fatalf("build: %d %q %q", code, out, errs)
	}
	id := strings.TrimSpace(out)
	c := newContainer(t, pocketdock.Options{Image: tag})
	if res, err := c.Run(context.Background(), "cat /hello.txt"); err != nil || res.Stdout != "hi\nfrom-arg\n" {
		t.Errorf("image content %q %v", res.Stdout, err)
	}
	out, errs, code = cli(t, "build", "-q", "-f", df, "-t", tag, "--network", "none", "--build-arg", "MSG=from-arg", dir)
	if code != 0 || strings.TrimSpace(out) != id || errs != "" {
		t.Errorf("quiet cached rebuild: %d %q %q (want %s)", code, out, errs, id)
	}
	out, errs, code = cli(t, "images")
	if code != 0 || !strings.Contains(out, "localhost/"+tag+":latest") {
		t.Errorf("images: %d %q %q", code, out, errs)
	}
	os.WriteFile(df, []byte("FROM pocketdock/busybox\nRUN true\nNOPE x\n"), 0o644)
	_, errs, code = cli(t, "build", "-f", df, "--network", "none", dir)
	if code != 125 || !strings.Contains(errs, "line 3: NOPE: unknown instruction") {
		t.Errorf("unknown instruction: %d %q", code, errs)
	}
	// The Dockerfile on stdin, the context elsewhere.
	cmd := exec.Command(cliBin, "--root", stateRoot, "build", "-q", "-f", "-", "--network", "none", "--build-arg", "MSG=from-arg", dir)
	cmd.Stdin = strings.NewReader("FROM pocketdock/busybox\nARG MSG\nCOPY hello.txt /hello.txt\nRUN echo \"$MSG\" >> /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n")
	if stdout, err := cmd.Output(); err != nil || strings.TrimSpace(string(stdout)) != id {
		t.Errorf("-f - (stdin): %q %v, want the cached %s", stdout, err, id)
	}
	// --prune-cache removes the step images; the tagged result stays usable
	// and a rebuild runs its RUN again.
	out, errs, code = cli(t, "build", "--prune-cache")
	if code != 0 || !strings.HasPrefix(out, "removed ") || strings.HasPrefix(out, "removed 0 ") {
		t.Errorf("prune: %d %q %q", code, out, errs)
	}
	if out, _, _ := cli(t, "images"); !strings.Contains(out, "localhost/"+tag+":latest") {
		t.Errorf("images after prune: %q", out)
	}
	os.WriteFile(df, []byte("FROM pocketdock/busybox\nARG MSG\nCOPY hello.txt /hello.txt\nRUN echo \"$MSG\" >> /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n"), 0o644)
	_, errs, code = cli(t, "build", "-f", df, "-t", tag, "--network", "none", "--build-arg", "MSG=from-arg", dir)
	if code != 0 || strings.Count(errs, "--> cached") != 0 || !strings.Contains(errs, "running in") {
		t.Errorf("rebuild after prune: %d %q", code, errs)
	}
	_, errs, code = cli(t, "build", filepath.Join(dir, "no-such"))
	if code != 125 || !strings.Contains(errs, "no-such") {
		t.Errorf("missing context: %d %q", code, errs)
	}
}

// TestBuildCancelled: cancelling a build during a RUN ends it long before
// the command would, and removes its container.
func TestBuildCancelled(t *testing.T) {
	needRoot(t)
	before := hostState(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var progress bytes.Buffer
	t0 := time.Now()
	_, err := pocketdock.Build(ctx, pocketdock.BuildOptions{Root: stateRoot, DockerfileText: []byte("FROM pocketdock/busybox\nRUN echo started; sleep 100\n"),
		Network: "none", Pull: "never", NoCache: true, Progress: &progress})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(t0); d > 60*time.Second {
		t.Errorf("the cancelled build took %s (the RUN sleeps 100 s)", d)
	}
	if left := diffState(before, hostState(t)); len(left) > 0 || !strings.Contains(progress.String(), "started") {
		t.Errorf("left %v (progress %q)", left, progress.String())
	}
}
