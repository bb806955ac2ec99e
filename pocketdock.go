// Package pocketdock creates throwaway or persistent Linux containers and runs
// commands in them, with no daemon: it drives the kernel through runc's
// libcontainer and stores images with containers/storage.
//
// A program that embeds it must call Init first thing in main (libcontainer
// re-executes the binary as each container's init), build with cgo and the
// tags "containers_image_openpgp exclude_graphdriver_btrfs seccomp netgo
// osusergo", link libseccomp (Debian: libseccomp-dev), and run as root.
//
// Every function takes a context; every type is safe for concurrent use.
// Containers keep running after the program exits; GetContainer finds them again.
package pocketdock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/pocketdock/pocketdock/image"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// DefaultImage is the image used when Options.Image and Options.Profile are empty.
const DefaultImage = "pocketdock/minimal-python"

// DefaultTimeout is the default timeout of Run (the reference's 30 s).
const DefaultTimeout = 30 * time.Second

// DefaultStopGrace is how long Shutdown waits after SIGTERM before SIGKILL.
const DefaultStopGrace = pdrt.DefaultStopGrace

// Init must be the first call in main of any program that embeds pocketdock
// (and in TestMain of its tests). When the binary is re-executed as a
// container's init by libcontainer, or as a containers/storage helper, it
// does that work and never returns; otherwise it returns at once.
func Init() { pdrt.Init() }

// Options configure CreateNewContainer. Zero values mean the documented default.
type Options struct {
	// Image is an image reference (pocketdock/minimal-python, docker.io/library/alpine:3.21,
	// localhost:5000/x:y, an image ID). Default DefaultImage.
	Image string
	// Name matches ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$, unique in the state root; also the
	// hostname. Default "pd-" + 8 random hex digits.
	Name string
	// Timeout is the default timeout of Run. 0 = DefaultTimeout (30 s); negative = none.
	Timeout time.Duration
	// PidsLimit caps processes in the container. 0 = 4096; negative = no limit.
	PidsLimit int64
	// Persist: Shutdown only stops; the container and its files stay.
	Persist bool
	// Env entries "KEY=VALUE" override the image's environment.
	Env []string
	// User overrides the image's user: "name", "uid", "name:group" or "uid:gid".
	User string
	// Workdir overrides the image's working directory (absolute).
	Workdir string
	// Hostname overrides the hostname (default: Name).
	Hostname string
	// Labels are free-form key/value labels stored with the container.
	Labels map[string]string
	// Project names the project the container belongs to. "" = the project
	// of the working directory (the nearest .pocketdock/pocketdock.yaml
	// above it; none outside a project): the container then gets an
	// instance directory (DataPath) with its history and logs, and the
	// project's default_persist and default_profile apply where these
	// options leave Persist false and both Image and Profile empty.
	Project string
	// Pull is the pull policy: "missing" (default), "always" or "never".
	Pull string
	// NoNewPrivileges, when non-nil and false, lets setuid and file-capability
	// binaries gain privileges (OCI process.noNewPrivileges). Default true.
	NoNewPrivileges *bool
	// Root is the state root ("" = $POCKETDOCK_ROOT, else /var/lib/pocketdock and /run/pocketdock).
	Root string
	// MemLimit caps the container's memory: "256m", "1g", … (docker/go-units,
	// binary units: 1k = 1024 bytes), at least 6 MiB; swap is capped at the
	// same value (OCI memory.limit and memory.swap). "" = no limit. A command
	// that allocates past it is killed by the OOM killer (exit 137) and
	// ContainerInfo.OOMKilled turns true; the container keeps running.
	MemLimit string
	// CPUPercent caps CPU time in percent of one CPU (50 = half a CPU, 150 =
	// one and a half), at most the host's CPUs × 100: OCI cpu.quota of
	// CPUPercent × 1000 µs per 100 000 µs period. 0 = no cap.
	CPUPercent int
	// Devices are host devices to pass in, each "HOST[:CONTAINER][:PERMS]"
	// (e.g. "/dev/ttyUSB0", "/dev/serial/by-id/usb-X:/dev/ttyUSB0:rw"): the
	// host node (symlinks followed) is bind-mounted at CONTAINER (default:
	// HOST as given), the cgroup allows PERMS (a subset of "rwm", default
	// "rwm"), and the node's group joins every command's supplementary groups.
	Devices []string
	// Network is "none" (a namespace with loopback only) or "bridge" (an
	// address on the bridge pocketdock0, 10.89.0.0/16, with egress through
	// masquerade). "" = the Profile's default, else none; bridge whenever
	// ports are published.
	Network string
	// Ports forwards host ports to container ports, TCP, on every host
	// address (127.0.0.1 included): host port → container port (the
	// reference's form). Implies bridge.
	Ports map[int]int
	// PortMappings are forwards with everything Ports cannot say: a host IP,
	// HostPort 0 for a free port (Info shows it), UDP. Implies bridge.
	PortMappings []PortMapping
	// Volumes maps host paths to container paths: read-write bind mounts (the
	// reference's form). Nothing is chowned: a non-root image user needs a
	// host folder it may write. The host path must exist; the container path
	// must be absolute, not "/", and not under /proc, /sys or /dev
	// (ErrInvalidArgument otherwise). All mounts go in order of target depth.
	Volumes map[string]string
	// Mounts are bind mounts Volumes cannot say (read-only ones), with the
	// same rules; added after Volumes.
	Mounts []Mount
	// Profile names an image profile (ListProfiles: minimal-python,
	// minimal-node, minimal-bun, dev, agent, embedded). It sets Image to the
	// profile's ImageTag unless Image is given, and then Pull to "never"
	// unless Pull is given (profile images are built locally: pocketdock build
	// NAME); Network "" takes the profile's NetworkDefault (bridge for dev and
	// embedded; none, or bridge with ports, for the others). "" = no profile:
	// Image DefaultImage, network none. An unknown name is ErrInvalidArgument.
	Profile string
}

// Mount is one bind mount of a host path (Source, which must exist) at an
// absolute container path (Target), read-only when ReadOnly (OCI mount of
// type bind with options rbind, and ro).
type Mount = pdrt.Mount

var (
	managersMu sync.Mutex
	managers   = map[string]*pdrt.Manager{}
)

// manager returns the process-wide Manager of a state root, so the image
// store is opened once per program.
func manager(root string) (*pdrt.Manager, error) {
	p, err := pdrt.ResolvePaths(root)
	if err != nil {
		return nil, err
	}
	managersMu.Lock()
	defer managersMu.Unlock()
	if m, ok := managers[p.Data]; ok {
		return m, nil
	}
	m, err := pdrt.Open(p.Root)
	if err != nil {
		return nil, err
	}
	managers[p.Data] = m
	return m, nil
}

// CreateNewContainer creates a container from opts and starts it. Errors:
// ErrInvalidArgument (name, pull policy, env, user, workdir, memory limit,
// CPU percent, pids limit, device), ErrConflict
// (name taken), ErrImageNotFound (with the hint to build the default image),
// ErrHostUnsupported (not root), ErrInvalidArgument for an unknown Profile.
// A failed create leaves nothing behind.
func CreateNewContainer(ctx context.Context, opts Options) (*Container, error) {
	projectRoot, err := joinProject(&opts)
	if err != nil {
		return nil, err
	}
	opts, profileHint, err := opts.withProfile()
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	m, err := manager(opts.Root)
	if err != nil {
		return nil, err
	}
	policy, err := image.ParsePullPolicy(opts.Pull)
	if err != nil {
		return nil, err
	}
	ref := opts.Image
	if ref == "" {
		ref = DefaultImage
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	nnp := true
	if opts.NoNewPrivileges != nil {
		nnp = *opts.NoNewPrivileges
	}
	var progress *os.File
	if isTerminal(os.Stderr) {
		progress = os.Stderr
	}
	if err := checkUserNetwork(opts.Network); err != nil {
		return nil, err
	}
	co := pdrt.CreateOptions{
		Name: opts.Name, Image: ref, Pull: policy, Timeout: timeout, Env: opts.Env,
		User: opts.User, Workdir: opts.Workdir, Hostname: opts.Hostname, Labels: opts.Labels,
		PidsLimit: opts.PidsLimit, Persist: opts.Persist, Project: opts.Project,
		NoNewPrivileges: nnp,
	}
	co.Network, co.Ports = opts.Network, opts.portMappings()
	if progress != nil {
		co.Progress = progress
	}
	co.MemLimit, co.CPUPercent, co.Devices = opts.MemLimit, opts.CPUPercent, opts.Devices
	co.Mounts = optionMounts(opts)
	co.ProjectRoot = projectRoot
	rec, err := m.Create(ctx, co)
	if err != nil {
		if profileHint != "" && isImageNotFound(err) {
			return nil, fmt.Errorf("create: %w (hint: %s)", err, profileHint)
		}
		if opts.Image == "" && isImageNotFound(err) {
			return nil, fmt.Errorf("create: %w (hint: pocketdock build minimal-python, or make fixtures && pocketdock import test/fixtures/out/minimal-python.tar)", err)
		}
		return nil, fmt.Errorf("create: %w", err)
	}
	c := &Container{m: m, rec: rec}
	if err := c.makeInstance(ctx, projectRoot, opts.Profile); err != nil {
		return nil, err
	}
	return c, nil
}

// GetContainer returns a handle to an existing container of the state root
// ($POCKETDOCK_ROOT or the default), found by exact name, then full ID, then
// a unique ID prefix. ErrContainerNotFound when none matches.
func GetContainer(ctx context.Context, nameOrID string) (*Container, error) {
	return GetContainerIn(ctx, "", nameOrID)
}

// GetContainerIn is GetContainer in an explicit state root ("" = the default).
func GetContainerIn(ctx context.Context, root, nameOrID string) (*Container, error) {
	m, err := manager(root)
	if err != nil {
		return nil, err
	}
	rec, err := m.Get(nameOrID)
	if err != nil {
		return nil, err
	}
	return &Container{m: m, rec: rec}, nil
}

// ListContainers lists the containers of the default state root, oldest
// first; with project != "" only that project's. Status is live.
func ListContainers(ctx context.Context, project string) ([]ContainerSummary, error) {
	return ListContainersIn(ctx, "", project)
}

// ContainerSummary is one row of ListContainers.
type ContainerSummary struct {
	ID, Name, Image, Status, Project string
	CreatedAt                        time.Time
	Persist                          bool
}

// ListContainersIn is ListContainers in an explicit state root.
func ListContainersIn(ctx context.Context, root, project string) ([]ContainerSummary, error) {
	m, err := manager(root)
	if err != nil {
		return nil, err
	}
	recs, err := m.List()
	if err != nil {
		return nil, err
	}
	out := []ContainerSummary{}
	for _, r := range recs {
		if project != "" && r.Project != project {
			continue
		}
		st, err := m.Status(r)
		if err != nil {
			st = "unknown"
		}
		if r.State == pdrt.RecordCreating {
			st = pdrt.RecordCreating
		}
		out = append(out, ContainerSummary{ID: r.ID, Name: r.Name, Image: r.Image, Status: st,
			Project: r.Project, CreatedAt: r.CreatedAt, Persist: r.Persist})
	}
	return out, nil
}

// DestroyContainer removes a container of the default state root in any
// state, at once (SIGKILL), with its files. ErrContainerNotFound when absent.
func DestroyContainer(ctx context.Context, nameOrID string) error {
	c, err := GetContainer(ctx, nameOrID)
	if err != nil {
		return err
	}
	return c.Destroy(ctx)
}

// CloseStores releases the image stores this process opened (each state
// root's containers/storage store). Running containers keep their mounted
// root filesystems; the store's own bind mount goes once no container layer
// is mounted. Later calls reopen what they need. The CLI calls it before it
// exits; a long-lived program may call it when it is done with pocketdock.
func CloseStores() error {
	managersMu.Lock()
	defer managersMu.Unlock()
	var errs []error
	for k, m := range managers {
		if err := m.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(managers, k)
	}
	return errors.Join(errs...)
}
