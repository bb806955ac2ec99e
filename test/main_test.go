// Package test holds pocketdock's integration tests. They run real containers
// as root on the real kernel (libcontainer, overlay, cgroups) from the fixture
// images that `make fixtures` builds from Debian packages.
package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// Shared by every test of the package: one fresh state root, with the fixture
// images imported once.
var (
	stateRoot string
	cliBin    string
	skipWhy   string
)

const (
	busyboxImage = "pocketdock/busybox"
	pythonImage  = "pocketdock/minimal-python"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func TestMain(m *testing.M) {
	pocketdock.Init()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		skipWhy = "needs root: integration tests run real containers (libcontainer, overlay, cgroups); run `sudo make test`"
		return m.Run()
	}
	fixtures := fixturesDir()
	for _, f := range []string{"busybox.tar", "minimal-python.tar"} {
		if _, err := os.Stat(filepath.Join(fixtures, f)); err != nil {
			msg := fmt.Sprintf("fixture %s missing: run `make fixtures` first", f)
			if os.Getenv("CI") != "" {
				fmt.Fprintln(os.Stderr, msg)
				return 1
			}
			skipWhy = msg
			return m.Run()
		}
	}
	dir, err := os.MkdirTemp("", "pd-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stateRoot = dir
	defer cleanupRoot(dir)
	// Before any container: the leak checks learn every container ID of this root.
	paths, err := pdrt.ResolvePaths(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := ownIDs.watch(paths.Containers()); err != nil {
		fmt.Fprintln(os.Stderr, "leak checks count every pocketdock cgroup on the host:", err)
	}
	defer ownIDs.close()
	ctx := context.Background()
	start := time.Now()
	for _, f := range []string{"busybox.tar", "minimal-python.tar"} {
		if _, err := pocketdock.ImportImage(ctx, stateRoot, filepath.Join(fixtures, f), "", nil); err != nil {
			fmt.Fprintln(os.Stderr, "import fixture:", err)
			return 1
		}
	}
	fmt.Fprintf(os.Stderr, "imported fixtures into %s in %s\n", stateRoot, time.Since(start).Round(time.Millisecond))
	// The CLI, for tests that run it as a user would.
	if cliBin = os.Getenv(cliEnv); cliBin != "" {
		return m.Run()
	}
	cliBin = filepath.Join(dir, "pocketdock")
	build := exec.Command(goBin(), "build", "-tags", buildTags, "-o", cliBin, "./cmd/pocketdock")
	build.Dir = repoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build CLI: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

const buildTags = "containers_image_openpgp exclude_graphdriver_btrfs seccomp netgo osusergo"

func goBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// cleanupRoot removes every container left in the root, closes the store and
// removes the folder, also when tests failed.
func cleanupRoot(dir string) {
	ctx := context.Background()
	if list, err := pocketdock.ListContainersIn(ctx, dir, ""); err == nil {
		for _, c := range list {
			if h, err := pocketdock.GetContainerIn(ctx, dir, c.ID); err == nil {
				if err := h.Destroy(ctx); err != nil {
					fmt.Fprintln(os.Stderr, "cleanup:", err)
				}
			}
		}
	}
	if m, err := pdrt.Open(dir); err == nil {
		if s, err := m.Images(); err == nil {
			s.Storage().Shutdown(true)
		}
	}
	// Whatever is still mounted below the root (nothing, when all went well).
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var mounts []string
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
				mounts = append(mounts, f[4])
			}
		}
		for i := len(mounts) - 1; i >= 0; i-- {
			fmt.Fprintln(os.Stderr, "cleanup: unmounting leaked", mounts[i])
			exec.Command("umount", "-l", mounts[i]).Run()
		}
	}
	os.RemoveAll(dir)
}

// needRoot skips a test that needs root and fixtures, saying why.
func needRoot(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}
