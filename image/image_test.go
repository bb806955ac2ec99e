package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/copy"
	dockerarchive "go.podman.io/image/v5/docker/archive"
	"go.podman.io/image/v5/docker/reference"
	ociarchive "go.podman.io/image/v5/oci/archive"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/tarball"
	imgtypes "go.podman.io/image/v5/types"
	"go.podman.io/storage/pkg/reexec"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the overlay storage driver mounts")
	}
}

// mountsUnder lists the mount points at or below dir from /proc/self/mountinfo.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := strings.ReplaceAll(fields[4], `\040`, " ")
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// openStore opens a store in a fresh temporary state root. Cleanup closes it
// and fails the test if Close left any mount under the root; leftovers are
// force-unmounted so the temporary directory can be removed even on failure.
func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	needRoot(t)
	return openStoreAt(t, t.TempDir())
}

// openStoreAt is openStore for a given (temporary) state root.
func openStoreAt(t *testing.T, root string) (*Store, string) {
	t.Helper()
	start := time.Now()
	s, err := Open(OptionsForRoot(root))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Logf("Open took %v", time.Since(start))
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if ents, err := os.ReadDir(filepath.Join(root, "storage", "tmp")); err != nil || len(ents) > 0 {
			t.Errorf("storage/tmp not empty after the test: %v, %v", ents, err)
		}
		left := mountsUnder(t, root)
		if len(left) > 0 {
			t.Errorf("mounts left under %s after Close: %v", root, left)
		}
		slices.Reverse(left)
		for _, m := range left {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	return s, root
}

// layerTar writes a tiny tar layer: etc/, etc/hello.txt and bin/.
func layerTar(t *testing.T, dir string, gz bool) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Unix(1700000000, 0)
	for _, d := range []string{"etc/", "bin/", "tmp/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
			t.Fatal(err)
		}
	}
	body := []byte("hello from the layer\n")
	if err := tw.WriteHeader(&tar.Header{Name: "etc/hello.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	name := filepath.Join(dir, "layer.tar")
	if gz {
		name += ".gz"
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		data = zb.Bytes()
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// testConfig is the run configuration of the test images.
var testConfig = imgspecv1.ImageConfig{
	Env:        []string{"PATH=/bin", "GREETING=hi"},
	User:       "1000:1000",
	WorkingDir: "/tmp",
	Cmd:        []string{"/bin/sh", "-c", "echo hi"},
	Labels:     map[string]string{"org.example.test": "yes"},
	StopSignal: "SIGINT",
}

// writeArchive makes a one-layer image from the layer with testConfig and
// writes it to dest (a docker-archive or oci-archive reference) with
// containers/image. label distinguishes images (different config → ID).
func writeArchive(t *testing.T, dir string, dest imgtypes.ImageReference, label string) {
	t.Helper()
	src, err := tarball.NewReference([]string{layerTar(t, dir, false)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig
	cfg.Labels = map[string]string{"org.example.test": label}
	created := time.Unix(1700000000, 0).UTC()
	if err := src.(tarball.ConfigUpdater).ConfigUpdate(imgspecv1.Image{
		Created:  &created,
		Platform: imgspecv1.Platform{OS: "linux", Architecture: "amd64"},
		Config:   cfg,
	}, nil); err != nil {
		t.Fatal(err)
	}
	pc, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Destroy()
	sys := &imgtypes.SystemContext{BigFilesTemporaryDir: dir, ArchitectureChoice: "amd64", OSChoice: "linux"}
	if _, err := copy.Image(context.Background(), pc, dest, src, &copy.Options{SourceCtx: sys, DestinationCtx: sys}); err != nil {
		t.Fatalf("writing test archive: %v", err)
	}
}

func dockerArchive(t *testing.T, tag, label string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "image-docker.tar")
	named, err := reference.ParseNormalizedNamed(tag)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := dockerarchive.NewReference(path, named.(reference.NamedTagged))
	if err != nil {
		t.Fatal(err)
	}
	writeArchive(t, dir, ref, label)
	return path
}

func ociArchive(t *testing.T, refName, label string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "image-oci.tar")
	ref, err := ociarchive.NewReference(path, refName)
	if err != nil {
		t.Fatal(err)
	}
	writeArchive(t, dir, ref, label)
	return path
}

func gzipFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out := path + ".gz"
	if err := os.WriteFile(out, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func importOne(t *testing.T, s *Store, path, tag string) *Image {
	t.Helper()
	start := time.Now()
	imgs, err := s.Import(context.Background(), path, tag, nil)
	if err != nil {
		t.Fatalf("Import(%s, %q): %v", filepath.Base(path), tag, err)
	}
	t.Logf("Import of %s took %v", filepath.Base(path), time.Since(start))
	if len(imgs) != 1 {
		t.Fatalf("Import(%s): %d images, want 1", filepath.Base(path), len(imgs))
	}
	return imgs[0]
}

func checkConfig(t *testing.T, img *Image, label string) {
	t.Helper()
	c := img.Config
	if !slices.Equal(c.Env, testConfig.Env) || c.User != testConfig.User || c.WorkingDir != testConfig.WorkingDir ||
		!slices.Equal(c.Cmd, testConfig.Cmd) || c.StopSignal != testConfig.StopSignal || c.Labels["org.example.test"] != label {
		t.Errorf("config = %+v, want %+v with label %q", c, testConfig, label)
	}
	if want := time.Unix(1700000000, 0); !img.Created.Equal(want) {
		t.Errorf("Created = %v, want %v", img.Created, want)
	}
	if len(img.ID) != 64 || img.TopLayer == "" || img.Size <= 0 || !strings.HasPrefix(img.Digest, "sha256:") {
		t.Errorf("image fields: %+v", img)
	}
}

func TestParsePullPolicy(t *testing.T) {
	for in, want := range map[string]PullPolicy{"": PullMissing, "missing": PullMissing, "always": PullAlways, "never": PullNever, "Never": PullNever} {
		got, err := ParsePullPolicy(in)
		if err != nil || got != want {
			t.Errorf("ParsePullPolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := ParsePullPolicy("sometimes")
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ParsePullPolicy(sometimes) = %v, want ErrInvalidArgument", err)
	}
	for _, w := range []string{`"sometimes"`, "missing", "always", "never"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

func TestImportDockerArchiveAndResolve(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	path := dockerArchive(t, "pocketdock/busybox:latest", "docker")
	img := importOne(t, s, path, "")
	if !slices.Equal(img.Names, []string{"docker.io/pocketdock/busybox:latest"}) {
		t.Errorf("Names = %v", img.Names)
	}
	checkConfig(t, img, "docker")

	for _, ref := range []string{
		img.ID, "sha256:" + img.ID, img.ID[:12], img.ID[:3],
		"pocketdock/busybox", "pocketdock/busybox:latest",
		"docker.io/pocketdock/busybox", "docker.io/pocketdock/busybox:latest",
		"docker://pocketdock/busybox",
	} {
		start := time.Now()
		got, err := s.Resolve(ctx, ref, PullNever, nil)
		el := time.Since(start)
		if err != nil {
			t.Errorf("Resolve(%q): %v", ref, err)
			continue
		}
		t.Logf("Resolve(%q) took %v", ref, el)
		if got.ID != img.ID {
			t.Errorf("Resolve(%q) = %s, want %s", ref, got.ID, img.ID)
		}
	}
	// Missing policy finds local images without any network access.
	if got, err := s.Resolve(ctx, "pocketdock/busybox", "", nil); err != nil || got.ID != img.ID {
		t.Errorf("Resolve(missing) = %v, %v", got, err)
	}
	for _, ref := range []string{"busybox", "pocketdock/busybox:other", "quay.io/pocketdock/busybox", "localhost/busybox"} {
		if _, err := s.Resolve(ctx, ref, PullNever, nil); !errors.Is(err, ErrImageNotFound) {
			t.Errorf("Resolve(%q, never) = %v, want ErrImageNotFound", ref, err)
		}
	}
	if _, err := s.Image("Not A Ref!"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Image(bad ref) = %v, want ErrInvalidArgument", err)
	}

	// Gzip'd, with an extra tag: same image, one more (localhost) name.
	img2 := importOne(t, s, gzipFile(t, path), "extra:1")
	if img2.ID != img.ID {
		t.Errorf("gzip'd import: ID %s, want %s", img2.ID, img.ID)
	}
	if !slices.Contains(img2.Names, "localhost/extra:1") || !slices.Contains(img2.Names, "docker.io/pocketdock/busybox:latest") {
		t.Errorf("gzip'd import names = %v", img2.Names)
	}
	if got, err := s.Image("extra:1"); err != nil || got.ID != img.ID {
		t.Errorf("Image(extra:1) = %v, %v", got, err)
	}
	// Removing by one of several names only untags.
	if err := s.Remove("extra:1"); err != nil {
		t.Fatalf("Remove(extra:1): %v", err)
	}
	if got, err := s.Image(img.ID); err != nil || slices.Contains(got.Names, "localhost/extra:1") {
		t.Errorf("after untag: %v, %v", got, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].ID != img.ID {
		t.Errorf("List = %v, %v", list, err)
	}
}

func TestImportOCIArchive(t *testing.T) {
	s, _ := openStore(t)
	img := importOne(t, s, ociArchive(t, "pocketdock/ocitest:v1", "oci"), "")
	if !slices.Equal(img.Names, []string{"docker.io/pocketdock/ocitest:v1"}) {
		t.Errorf("Names = %v", img.Names)
	}
	checkConfig(t, img, "oci")
	if got, err := s.Image("pocketdock/ocitest:v1"); err != nil || got.ID != img.ID {
		t.Errorf("Image(short) = %v, %v", got, err)
	}

	// A bare tag annotation names nothing; the tag does. Gzip'd.
	img2 := importOne(t, s, gzipFile(t, ociArchive(t, "latest", "oci2")), "pocketdock/oci2")
	if !slices.Equal(img2.Names, []string{"localhost/pocketdock/oci2:latest"}) {
		t.Errorf("Names = %v", img2.Names)
	}
	if got, err := s.Resolve(context.Background(), "pocketdock/oci2", PullNever, nil); err != nil || got.ID != img2.ID {
		t.Errorf("Resolve(pocketdock/oci2) = %v, %v", got, err)
	}
	// No name at all: kept, by ID only.
	img3 := importOne(t, s, ociArchive(t, "", "oci3"), "")
	if len(img3.Names) != 0 {
		t.Errorf("unnamed import has names %v", img3.Names)
	}
	if got, err := s.Image(img3.ID[:10]); err != nil || got.ID != img3.ID {
		t.Errorf("Image(prefix) = %v, %v", got, err)
	}
}

func TestImportRootfs(t *testing.T) {
	s, _ := openStore(t)
	dir := t.TempDir()
	plain := layerTar(t, dir, false)
	if _, err := s.Import(context.Background(), plain, "", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("rootfs without tag: %v, want ErrInvalidArgument", err)
	}
	img := importOne(t, s, layerTar(t, t.TempDir(), true), "pocketdock/rootfs")
	if !slices.Equal(img.Names, []string{"localhost/pocketdock/rootfs:latest"}) {
		t.Errorf("Names = %v", img.Names)
	}
	if img.Config.User != "" || len(img.Config.Cmd) != 0 || len(img.Config.Env) != 1 || !strings.HasPrefix(img.Config.Env[0], "PATH=/usr/local/sbin:") {
		t.Errorf("rootfs config = %+v", img.Config)
	}
	if got, err := s.Resolve(context.Background(), "pocketdock/rootfs", PullNever, nil); err != nil || got.ID != img.ID {
		t.Errorf("Resolve = %v, %v", got, err)
	}
	// Plain tar too, under a path with a colon.
	colon := filepath.Join(dir, "a:b.tar")
	if err := os.Rename(plain, colon); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(context.Background(), colon, "quay.io/pocketdock/rootfs:2", nil); err != nil {
		t.Errorf("import %s: %v", colon, err)
	}
	if _, err := s.Image("quay.io/pocketdock/rootfs:2"); err != nil {
		t.Errorf("Image(quay.io/...): %v", err)
	}

	// Garbage and empty files are refused.
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a tar "), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{junk, empty} {
		if _, err := s.Import(context.Background(), p, "x", nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Import(%s) = %v, want ErrInvalidArgument", filepath.Base(p), err)
		}
	}
	if _, err := s.Import(context.Background(), colon, "Bad Tag", nil); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), `"Bad Tag"`) {
		t.Errorf("Import(bad tag) = %v, want ErrInvalidArgument naming it", err)
	}
}

func TestNotFoundAndPullFailure(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	_, err := s.Resolve(ctx, "pocketdock/nothing-here", PullNever, nil)
	if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), "pocketdock/nothing-here") {
		t.Errorf("Resolve(never) = %v, want ErrImageNotFound naming the ref", err)
	}
	// An unknown full ID is never pulled.
	id := strings.Repeat("ab", 32)
	if _, err := s.Resolve(ctx, id, PullMissing, nil); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("Resolve(unknown ID) = %v, want ErrImageNotFound", err)
	}

	// A registry on a closed loopback port: connection refused, quickly.
	addr := closedPort(t)
	for _, pull := range []func(string) error{
		func(ref string) error { _, err := s.Pull(ctx, ref, io.Discard); return err },
		func(ref string) error { _, err := s.Resolve(ctx, ref, PullMissing, nil); return err },
		func(ref string) error { _, err := s.Resolve(ctx, ref, PullAlways, nil); return err },
	} {
		ref := addr + "/pocketdock/absent:1"
		start := time.Now()
		err := pull(ref)
		t.Logf("failed pull took %v: %v", time.Since(start), err)
		if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), ref) {
			t.Errorf("pull from closed port = %v, want ErrImageNotFound naming %s", err, ref)
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("pull error %v does not wrap the network error (connection refused)", err)
		}
	}
	if _, err := s.Resolve(ctx, "x", "sometimes", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Resolve(bad policy) = %v", err)
	}
}

func TestRootfsLifecycle(t *testing.T) {
	s, root := openStore(t)
	img := importOne(t, s, dockerArchive(t, "pocketdock/busybox:latest", "rootfs"), "")
	const cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// Runs before openStore's cleanup: remove the rootfs even on failure.
	t.Cleanup(func() {
		if st, err := Open(OptionsForRoot(root)); err == nil {
			_ = st.RemoveRootfs(cid)
			_ = st.Close()
		}
	})

	start := time.Now()
	rootfs, err := s.CreateRootfs(cid, img.ID)
	if err != nil {
		t.Fatalf("CreateRootfs: %v", err)
	}
	t.Logf("CreateRootfs took %v", time.Since(start))
	data, err := os.ReadFile(filepath.Join(rootfs, "etc/hello.txt"))
	if err != nil || string(data) != "hello from the layer\n" {
		t.Fatalf("etc/hello.txt in rootfs: %q, %v", data, err)
	}
	if c, err := s.Storage().Container(cid); err != nil || c.ImageID != img.ID {
		t.Fatalf("storage container: %+v, %v", c, err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "tmp/new"), []byte("x"), 0o644); err != nil {
		t.Fatalf("rootfs is not writable: %v", err)
	}
	// A duplicate ID is refused and leaves the first alone.
	if _, err := s.CreateRootfs(cid, img.ID); err == nil {
		t.Errorf("second CreateRootfs with the same ID succeeded")
	}
	if _, err := os.Stat(filepath.Join(rootfs, "tmp/new")); err != nil {
		t.Errorf("failed duplicate create disturbed the rootfs: %v", err)
	}
	// Unknown image: nothing left behind.
	if _, err := s.CreateRootfs("other", "pocketdock/none"); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("CreateRootfs(unknown image) = %v", err)
	}
	if _, err := s.Storage().Container("other"); err == nil {
		t.Errorf("a failed CreateRootfs left a storage container")
	}

	// MountRootfs on a mounted rootfs returns the same path, count unchanged.
	again, err := s.MountRootfs(cid)
	if err != nil || again != rootfs {
		t.Errorf("MountRootfs = %q, %v; want %q", again, err, rootfs)
	}
	if n, err := s.Storage().Mounted(cid); err != nil || n != 1 {
		t.Errorf("mount count = %d, %v; want 1", n, err)
	}

	if err := s.Remove(img.ID); !errors.Is(err, ErrImageInUse) || !strings.Contains(err.Error(), cid) {
		t.Errorf("Remove(in use) = %v, want ErrImageInUse naming the container", err)
	}
	if err := s.Remove("pocketdock/busybox"); !errors.Is(err, ErrImageInUse) {
		t.Errorf("Remove(in use, by name) = %v, want ErrImageInUse", err)
	}

	// Close with the rootfs mounted keeps it mounted (a running container
	// outlives the process); a new Store finds and removes it.
	if err := s.Close(); err != nil {
		t.Fatalf("Close with a mounted rootfs: %v", err)
	}
	if !slices.Contains(mountsUnder(t, root), rootfs) {
		t.Errorf("Close unmounted a container rootfs")
	}
	s2, err := Open(OptionsForRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()

	// Simulate another process having mounted it too: counts persist.
	if _, err := s2.Storage().Mount(cid, ""); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := s2.RemoveRootfs(cid); err != nil {
		t.Fatalf("RemoveRootfs: %v", err)
	}
	t.Logf("RemoveRootfs took %v", time.Since(start))
	if err := s2.RemoveRootfs(cid); err != nil {
		t.Errorf("second RemoveRootfs: %v", err)
	}
	if _, err := os.Stat(rootfs); !os.IsNotExist(err) {
		t.Errorf("rootfs %s still exists: %v", rootfs, err)
	}
	if left := mountsUnder(t, rootfs); len(left) > 0 {
		t.Errorf("rootfs still mounted: %v", left)
	}
	if _, err := s2.MountRootfs(cid); err == nil {
		t.Errorf("MountRootfs of a removed rootfs succeeded")
	}
	if err := s2.Remove("pocketdock/busybox"); err != nil {
		t.Errorf("Remove after RemoveRootfs: %v", err)
	}
	if _, err := s2.Image(img.ID); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("Image after Remove = %v, want ErrImageNotFound", err)
	}
	if err := s2.Remove(img.ID); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("second Remove = %v, want ErrImageNotFound", err)
	}
	if err := s2.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if left := mountsUnder(t, root); len(left) > 0 {
		t.Errorf("mounts left under %s after Close: %v", root, left)
	}
}

// closedPort returns 127.0.0.1:<port> where a connection is refused for the
// whole test: the port is held by a TCP socket that is bound (without
// SO_REUSEADDR) but never listens, so the kernel answers SYNs with a reset
// and no other process can bind it. (A port taken by Listen and closed
// again could be handed to a server of a test running beside this one —
// `go test ./...` runs packages side by side — which then got this test's
// requests.)
func closedPort(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
}

func TestStateRootConfig(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	reg := closedPort(t)
	conf := "unqualified-search-registries = [\"" + reg + "\"]\n"
	if err := os.WriteFile(filepath.Join(root, "registries.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	reject := `{"default":[{"type":"reject"}]}`
	if err := os.WriteFile(filepath.Join(root, "policy.json"), []byte(reject), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := openStoreAt(t, root)
	if s.sys.SystemRegistriesConfPath != filepath.Join(root, "registries.conf") || s.policyPath != filepath.Join(root, "policy.json") {
		t.Fatalf("config paths: registries %q, policy %q", s.sys.SystemRegistriesConfPath, s.policyPath)
	}
	// Short names are pulled from the configured search registry only.
	_, err := s.Resolve(context.Background(), "pocketdock/absent", PullMissing, nil)
	if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), reg+"/pocketdock/absent:latest") || strings.Contains(err.Error(), "docker.io") {
		t.Errorf("short-name pull = %v, want ErrImageNotFound from %s only", err, reg)
	}
	// The state root's policy rejects every image, imports included.
	if _, err := s.Import(context.Background(), dockerArchive(t, "pocketdock/busybox:latest", "p"), "", nil); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("import under a reject policy = %v, want a policy rejection", err)
	}
	// Local lookups still know docker.io names.
	names := []string{}
	for _, n := range s.shortNameCandidates("alpine", true) {
		names = append(names, n.String())
	}
	want := []string{"localhost/alpine:latest", reg + "/alpine:latest", "docker.io/library/alpine:latest"}
	if !slices.Equal(names, want) {
		t.Errorf("local candidates = %v, want %v", names, want)
	}
}

func TestBuiltinConfig(t *testing.T) {
	if fileExists("/etc/containers/registries.conf") || fileExists("/etc/containers/policy.json") {
		t.Skip("this host has /etc/containers configuration; the built-in defaults are not in use")
	}
	s, _ := openStore(t)
	if s.sys.SystemRegistriesConfPath != os.DevNull || s.policyPath != "" {
		t.Fatalf("config paths: registries %q, policy %q", s.sys.SystemRegistriesConfPath, s.policyPath)
	}
	var names []string
	for _, n := range s.shortNameCandidates("alpine:3", false) {
		names = append(names, n.String())
	}
	if !slices.Equal(names, []string{"docker.io/library/alpine:3"}) {
		t.Errorf("pull candidates = %v, want docker.io/library/alpine:3", names)
	}
	for domain, want := range map[string]bool{"localhost": true, "localhost:5000": true, "127.0.0.1:1": true, "[::1]:5000": true, "127.0.0.2:5000": false, "example.com": false, "docker.io": false} {
		if got := isLoopbackRegistry(domain); got != want {
			t.Errorf("isLoopbackRegistry(%q) = %v", domain, got)
		}
	}
}

// TestForeignStorageConf runs itself in a child process whose
// CONTAINERS_STORAGE_CONF names a broken file: Open must not read it, and must
// leave the variable as it was.
func TestForeignStorageConf(t *testing.T) {
	needRoot(t)
	const marker = "POCKETDOCK_IMAGE_TEST_CHILD"
	if os.Getenv(marker) == "" {
		broken := filepath.Join(t.TempDir(), "storage.conf")
		if err := os.WriteFile(broken, []byte("[storage\ndriver = 42 =\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestForeignStorageConf$", "-test.v")
		cmd.Env = append(os.Environ(), marker+"=1", "CONTAINERS_STORAGE_CONF="+broken)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestForeignStorageConf") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	before := os.Getenv("CONTAINERS_STORAGE_CONF")
	s, _ := openStore(t)
	if got := os.Getenv("CONTAINERS_STORAGE_CONF"); got != before {
		t.Errorf("CONTAINERS_STORAGE_CONF changed from %q to %q", before, got)
	}
	if s.Storage().GraphDriverName() != "overlay" {
		t.Errorf("driver %q", s.Storage().GraphDriverName())
	}
}
