package test

import (
	"os"
	"path/filepath"
)

// Environment that lets the test binary run away from the source tree, as
// the VM lane (test/vm) runs it: built with `go test -c`, without a Go
// toolchain, with the fixtures on a 9p share.
const (
	// fixturesEnv names the folder holding busybox.tar and
	// minimal-python.tar (default: test/fixtures/out of the source tree).
	fixturesEnv = "POCKETDOCK_TEST_FIXTURES"
	// cliEnv names a prebuilt pocketdock CLI binary (default: built with
	// `go build` into the test root).
	cliEnv = "POCKETDOCK_TEST_CLI"
	// cgroupEnv set to "2" makes TestCgroupSmoke fail unless /sys/fs/cgroup is
	// a pure cgroup v2 hierarchy (the VM lane sets it).
	cgroupEnv = "POCKETDOCK_TEST_CGROUP"
)

// fixturesDir returns the folder with the fixture images.
func fixturesDir() string {
	if d := os.Getenv(fixturesEnv); d != "" {
		return d
	}
	return filepath.Join(repoRoot(), "test", "fixtures", "out")
}
