package runtime

import (
	"os"

	// Device cgroup rules for libcontainer's cgroup managers.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor joins namespaces before the Go runtime starts
	// when the binary is re-executed as a container's init.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	"go.podman.io/storage/pkg/reexec"
)

// Init must run first in main (and in TestMain) of every program that
// creates containers. When libcontainer re-executes the binary as a
// container's init (its environment has _LIBCONTAINER_INITPIPE) it hands over
// to libcontainer.Init and never returns; when containers/storage re-executes
// it for a helper it runs that helper and exits. Otherwise it returns at once.
// It never looks at os.Args, so a CLI command named "init" is not mistaken.
func Init() {
	if os.Getenv("_LIBCONTAINER_INITPIPE") != "" {
		libcontainer.Init() // does not return
	}
	if reexec.Init() {
		os.Exit(0)
	}
}
