// Package runtime runs pocketdock containers on runc's libcontainer: it builds
// the OCI runtime spec, creates, starts, signals and destroys containers,
// keeps their on-disk records and locks, and talks to the in-container agent
// (PID 1) through runtime/agent.
//
// It never imports the root package or cmd; the root package wraps it.
package runtime

import (
	"os"
	"path/filepath"
)

// Default state locations used when no state root is given (DESIGN.md, State).
const (
	// DefaultDataDir holds images (storage/) and container records (containers/).
	DefaultDataDir = "/var/lib/pocketdock"
	// DefaultRunDir holds libcontainer state, agent sockets and storage's run root;
	// it is on tmpfs, so it is empty after a host reboot.
	DefaultRunDir = "/run/pocketdock"
	// RootEnv is the environment variable that sets the state root.
	RootEnv = "POCKETDOCK_ROOT"
)

// Paths are the folders of one state root.
type Paths struct {
	// Root is the state root as given ("" when the defaults are in use).
	Root string
	// Data holds storage/, containers/ and bin/ (the agent binaries).
	Data string
	// Run holds runc/ (libcontainer state), c/<id>/ (agent socket, logs) and storage/ (run root).
	Run string
}

// ResolvePaths returns the folders for state root root. An empty root means
// $POCKETDOCK_ROOT, and when that is empty too, the defaults
// (/var/lib/pocketdock and /run/pocketdock). A relative root is made absolute.
func ResolvePaths(root string) (Paths, error) {
	if root == "" {
		root = os.Getenv(RootEnv)
	}
	if root == "" {
		return Paths{Data: DefaultDataDir, Run: DefaultRunDir}, nil
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return Paths{}, err
	}
	return Paths{Root: abs, Data: abs, Run: filepath.Join(abs, "run")}, nil
}

// StorageGraph is containers/storage's graph root (images and layers).
func (p Paths) StorageGraph() string { return filepath.Join(p.Data, "storage") }

// StorageRun is containers/storage's run root (mount counts, locks).
func (p Paths) StorageRun() string { return filepath.Join(p.Run, "storage") }

// Containers is the folder of container records, one subfolder per ID.
func (p Paths) Containers() string { return filepath.Join(p.Data, "containers") }

// Libcontainer is libcontainer's state root (one folder per container ID).
func (p Paths) Libcontainer() string { return filepath.Join(p.Run, "runc") }

// Bin holds the content-addressed, read-only agent binaries.
func (p Paths) Bin() string { return filepath.Join(p.Data, "bin") }

// RecordDir is the folder of one container's record.
func (p Paths) RecordDir(id string) string { return filepath.Join(p.Containers(), id) }

// RunDir is one container's run directory: the agent socket.
func (p Paths) RunDir(id string) string { return filepath.Join(p.Run, "c", id) }

// SocketPath is the agent's listening socket on the host for container id.
func (p Paths) SocketPath(id string) string { return filepath.Join(p.RunDir(id), "agent.sock") }

// ID names this state root in tags on host-wide objects: the root path, or "default".
func (p Paths) ID() string {
	if p.Root == "" {
		return "default"
	}
	return p.Root
}
