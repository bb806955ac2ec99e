package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"

	"github.com/pocketdock/pocketdock"
)

// fileServer serves files on 127.0.0.1 and counts the requests per path.
type fileServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
}

func newFileServer(t *testing.T, files map[string][]byte) *fileServer {
	fs := &fileServer{files: files, hits: map[string]int{}}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.hits[r.URL.Path]++
		data, ok := fs.files[r.URL.Path]
		fs.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Last-Modified", "Tue, 03 Mar 2020 10:00:00 GMT")
		_, _ = w.Write(data)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *fileServer) count(p string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.hits[p]
}

// TestBuildAddURL builds ADD of http URLs served on loopback: --checksum
// checked (a good one builds, a bad one fails naming the URL and both
// digests), mode 0600 by default, --chown/--chmod, the file name from the
// URL in a destination folder, the platform ARGs in FROM and RUN, the stage
// of another architecture skipped, and a rebuild taken from the cache (the
// checksummed ADD without a download).
func TestBuildAddURL(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	rnd := make([]byte, 16)
	_, _ = rand.Read(rnd)
	payload := []byte("payload " + hex.EncodeToString(rnd) + "\n")
	sum := sha256.Sum256(payload)
	good := "sha256:" + hex.EncodeToString(sum[:])
	arch := goruntime.GOARCH
	other := "arm64"
	if arch == "arm64" {
		other = "amd64"
	}
	srv := newFileServer(t, map[string][]byte{"/files/payload-" + arch + ".bin": payload, "/files/payload-" + other + ".bin": payload})
	mine, theirs := "/files/payload-"+arch+".bin", "/files/payload-"+other+".bin"

	dockerfile := fmt.Sprintf(`FROM pocketdock/busybox AS fetch-%[3]s
ARG TARGETARCH
ADD --checksum=%[2]s %[1]s/files/payload-${TARGETARCH}.bin /opt/dl/

FROM pocketdock/busybox AS fetch-%[4]s
ADD %[1]s/files/payload-%[4]s.bin /opt/dl/

FROM fetch-${TARGETARCH}
ARG TARGETARCH
ARG TARGETPLATFORM
ADD --chown=1000:1000 --chmod=0640 %[1]s/files/payload-${TARGETARCH}.bin /opt/named.bin
RUN echo "arch=$TARGETARCH platform=$TARGETPLATFORM" > /opt/arch.txt
`, srv.URL, good, arch, other)
	tag := "build-test/addurl:1"
	removeImageOnCleanup(t, tag)
	before := hostState(t)
	opts := pocketdock.BuildOptions{Root: stateRoot, DockerfileText: []byte(dockerfile), Tags: []string{tag}, Network: "none", Pull: "never"}
	var progress bytes.Buffer
	opts.Progress = &progress
	id, err := pocketdock.Build(ctx, opts)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, progress.String())
	}
	out := progress.String()
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Errorf("the build left %v", left)
	}
	if srv.count(mine) != 2 || srv.count(theirs) != 0 {
		t.Errorf("requests: %s %d (want 2), %s %d (want 0: its stage is not used)\n%s", mine, srv.count(mine), theirs, srv.count(theirs), out)
	}
	if !strings.Contains(out, "skipping stage fetch-"+other) {
		t.Errorf("progress does not say the %s stage is skipped:\n%s", other, out)
	}

	ctr := newContainer(t, pocketdock.Options{Image: tag})
	checks := []struct{ cmd, want string }{
		{"cat /opt/dl/payload-" + arch + ".bin /opt/named.bin", string(payload) + string(payload)},
		{"stat -c '%a %u:%g' /opt/dl/payload-" + arch + ".bin /opt/named.bin", "600 0:0\n640 1000:1000\n"},
		{"stat -c %Y /opt/named.bin", "1583229600\n"},
		{"cat /opt/arch.txt", fmt.Sprintf("arch=%s platform=linux/%s\n", arch, arch)},
	}
	if arch == "arm" {
		checks = checks[:3] // TARGETPLATFORM carries a variant
	}
	for _, ch := range checks {
		res, err := ctr.Run(ctx, ch.cmd)
		if err != nil || res.Stdout != ch.want {
			t.Errorf("%s: got %q (stderr %q, exit %d, %v), want %q", ch.cmd, res.Stdout, res.Stderr, res.ExitCode, err, ch.want)
		}
	}

	// Rebuild: every step cached; the checksummed ADD downloads nothing,
	// the other ADD downloads again and finds its content in the cache.
	progress.Reset()
	id2, err := pocketdock.Build(ctx, opts)
	if err != nil {
		t.Fatalf("rebuild: %v\n%s", err, progress.String())
	}
	if id2 != id || strings.Count(progress.String(), "--> cached") != 3 {
		t.Errorf("rebuild: id %s (first %s), want 3 cached steps:\n%s", id2, id, progress.String())
	}
	if n := srv.count(mine); n != 3 {
		t.Errorf("rebuild: %d requests for %s in all, want 3 (the checksummed ADD hits the cache without a download)", n, mine)
	}

	// A wrong checksum fails naming the URL and both digests; nothing is left.
	wrong := "sha256:" + strings.Repeat("0", 64)
	bad := fmt.Sprintf("FROM pocketdock/busybox\nADD --checksum=%s %s%s /x.bin\n", wrong, srv.URL, mine)
	before = hostState(t)
	progress.Reset()
	_, err = pocketdock.Build(ctx, pocketdock.BuildOptions{Root: stateRoot, DockerfileText: []byte(bad), Network: "none", Pull: "never", Progress: &progress})
	var ce *pocketdock.BuildChecksumError
	if !errors.As(err, &ce) || !errors.Is(err, pocketdock.ErrInvalidArgument) {
		t.Fatalf("bad checksum: got %v, want a *pocketdock.BuildChecksumError wrapping ErrInvalidArgument", err)
	}
	for _, want := range []string{srv.URL + mine, wrong, good, "line 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("bad checksum: %q does not name %s", err, want)
		}
	}
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Errorf("the failed build left %v", left)
	}

	// A missing file: the error names the URL and the HTTP status.
	_, err = pocketdock.Build(ctx, pocketdock.BuildOptions{Root: stateRoot, Network: "none", Pull: "never",
		DockerfileText: []byte("FROM pocketdock/busybox\nADD " + srv.URL + "/nope.bin /x\n")})
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/nope.bin") || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing file: got %v, want the URL and 404", err)
	}
}
