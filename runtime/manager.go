package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock/image"
	"github.com/pocketdock/pocketdock/runtime/agent"
	"github.com/pocketdock/pocketdock/runtime/initbin"
	"github.com/pocketdock/pocketdock/snapshot"
)

// Status values of a container (API.md, Info.Status).
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusPaused  = "paused"
	StatusExited  = "exited"
)

// DefaultStopGrace is how long Stop waits after SIGTERM before SIGKILL.
const DefaultStopGrace = 10 * time.Second

// Manager manages the containers of one state root. It is safe for
// concurrent use; concurrent processes are serialised by file locks.
type Manager struct {
	paths Paths

	imgMu  sync.Mutex
	images *image.Store
}

// Open returns a Manager for state root root ("" = $POCKETDOCK_ROOT or the
// defaults). It needs root: ErrHostUnsupported otherwise.
func Open(root string) (*Manager, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: pocketdock needs root (run it with sudo)", ErrHostUnsupported)
	}
	p, err := ResolvePaths(root)
	if err != nil {
		return nil, err
	}
	return &Manager{paths: p}, nil
}

// Paths returns the manager's folders.
func (m *Manager) Paths() Paths { return m.paths }

// Images returns the image store, opening it on first use (the run path never
// needs it, so plain Run calls stay cheap).
func (m *Manager) Images() (*image.Store, error) {
	m.imgMu.Lock()
	defer m.imgMu.Unlock()
	if m.images != nil {
		return m.images, nil
	}
	s, err := image.Open(image.Options{GraphRoot: m.paths.StorageGraph(), RunRoot: m.paths.StorageRun(), ConfigRoot: m.paths.Data})
	if err != nil {
		return nil, err
	}
	m.images = s
	return s, nil
}

// Close releases the image store (unmounting nothing that a container uses).
func (m *Manager) Close() error {
	m.imgMu.Lock()
	defer m.imgMu.Unlock()
	if m.images == nil {
		return nil
	}
	err := m.images.Close()
	m.images = nil
	return err
}

func (m *Manager) storeLock() (*fileLock, error) {
	return lockFile(filepath.Join(m.paths.Containers(), ".lock"))
}

func (m *Manager) containerLock(id string) (*fileLock, error) {
	return lockFile(filepath.Join(m.paths.RecordDir(id), ".lock"))
}

// CreateOptions are what Create needs; the root package fills them from Options.
type CreateOptions struct {
	Name            string            // "" = pd-<8 hex>
	Image           string            // image reference (required)
	Pull            image.PullPolicy  // "" = missing
	Timeout         time.Duration     // default Run timeout; < 0 none
	Env             []string          // "K=V", over the image's
	User            string            // "" = the image's
	Workdir         string            // "" = the image's, else /
	Hostname        string            // "" = Name
	Labels          map[string]string // user labels
	PidsLimit       int64             // 0 = DefaultPidsLimit; < 0 = none
	Persist         bool
	Project         string
	NoNewPrivileges bool
	Progress        io.Writer // pull progress, or nil
	// MemLimit caps memory: "256m", "1g" (go-units, binary), at least 6 MiB;
	// swap is capped at the same value. "" = none.
	MemLimit string
	// CPUPercent caps CPU in percent of one CPU (150 = 1.5 CPUs), at most
	// host CPUs × 100. 0 = none.
	CPUPercent int
	// Devices are host devices HOST[:CONTAINER][:PERMS] to pass in.
	Devices []string
	// Network is "none", "bridge" or "host" (NetworkHost); "" = none, or
	// bridge when Ports are given.
	Network string
	// Ports are host → container forwards (mode bridge); host port 0 picks a free one.
	Ports []PortMapping
	// Mounts are bind mounts of host paths (see Mount and ValidateMounts).
	Mounts []Mount
	// NoImageCmd leaves the image's ENTRYPOINT/CMD unstarted (it is job 1
	// otherwise); the builder's RUN containers use it.
	NoImageCmd bool
	// ProjectRoot is the project root folder of a container that joins a
	// project ("" = none); stored in Record.ProjectRoot.
	ProjectRoot string
}

// Create resolves the image, makes the container's rootfs, writes its record
// and starts PID 1 (the agent). On any failure everything made so far is
// removed. Errors: ErrInvalidArgument (name, user, workdir), ErrConflict
// (name taken), image.ErrImageNotFound, or the libcontainer error wrapped.
func (m *Manager) Create(ctx context.Context, o CreateOptions) (rec *Record, err error) {
	name := o.Name
	if name == "" {
		name = DefaultName()
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	hostname := o.Hostname
	if hostname == "" {
		hostname = name
	}
	if err := ValidateName(hostname); err != nil {
		return nil, fmt.Errorf("hostname: %w", err)
	}
	if o.Workdir != "" && (!filepath.IsAbs(o.Workdir) || strings.IndexByte(o.Workdir, 0) >= 0) {
		return nil, fmt.Errorf("%w: workdir %q: want an absolute path", ErrInvalidArgument, o.Workdir)
	}
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
			return nil, fmt.Errorf("%w: environment entry %q: want KEY=VALUE without NUL bytes", ErrInvalidArgument, kv)
		}
	}
	if o.Image == "" {
		return nil, fmt.Errorf("%w: empty image reference", ErrInvalidArgument)
	}
	limits, err := validateResources(o)
	if err != nil {
		return nil, err
	}
	mounts, err := ValidateMounts(o.Mounts)
	if err != nil {
		return nil, err
	}
	store, err := m.Images()
	if err != nil {
		return nil, err
	}
	img, err := store.Resolve(ctx, o.Image, o.Pull, o.Progress)
	if err != nil {
		return nil, err
	}
	agentPath, err := m.installAgent()
	if err != nil {
		return nil, err
	}

	id := NewID()
	now := time.Now().UTC()
	rec = &Record{
		ID: id, Name: name, State: RecordCreating, Image: o.Image, ImageID: img.ID,
		Hostname: hostname, Labels: o.Labels, Timeout: o.Timeout, Persist: o.Persist,
		Project: o.Project, NoNewPrivileges: o.NoNewPrivileges,
		Cmd: img.Config.Cmd, Entrypoint: img.Config.Entrypoint,
		Agent: agentPath, BootID: bootID(), CreatedAt: now,
	}
	rec.Limits, rec.Devices = limits, o.Devices
	if err := setNetworkOptions(rec, o); err != nil {
		return nil, err
	}
	rec.Mounts = mounts
	rec.ProjectRoot = o.ProjectRoot

	// Reserve the name: store lock, check, write the creating record.
	sl, err := m.storeLock()
	if err != nil {
		return nil, err
	}
	recs, err := m.paths.listRecords()
	if err != nil {
		sl.Unlock()
		return nil, err
	}
	for _, r := range recs {
		if r.Name == name {
			sl.Unlock()
			return nil, fmt.Errorf("%w: container name %q is already used by %s", ErrConflict, name, r.ID[:12])
		}
	}
	cl, err := m.containerLock(id)
	if err != nil {
		sl.Unlock()
		return nil, err
	}
	defer cl.Unlock()
	err = m.paths.writeRecord(rec)
	sl.Unlock()
	if err != nil {
		os.RemoveAll(m.paths.RecordDir(id))
		return nil, err
	}
	defer func() {
		if err != nil {
			if cerr := m.teardown(context.WithoutCancel(ctx), id, true, true); cerr != nil {
				slog.Warn("rollback of failed create", "container", id, "error", cerr)
			}
		}
	}()

	rootfs, err := store.CreateRootfs(id, img.ID)
	if err != nil {
		return nil, err
	}
	rec.Rootfs = rootfs
	// The command environment: the image's env and user, then the options.
	env := mergeEnv(img.Config.Env, o.Env)
	if !hasEnv(env, "PATH") {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	userSpec := img.Config.User
	if o.User != "" {
		userSpec = o.User
	}
	uid, gid, groups, home, err := resolveUser(rootfs, userSpec)
	if err != nil {
		return nil, err
	}
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+home)
	}
	env = append(env, "HOSTNAME="+hostname)
	cwd := img.Config.WorkingDir
	if o.Workdir != "" {
		cwd = o.Workdir
	}
	if cwd == "" {
		cwd = "/"
	}
	rec.Process = Process{Env: env, Cwd: cwd, User: userSpec, UID: uid, GID: gid, Groups: groups}
	if err := checkProcess(&rec.Process); err != nil {
		return nil, err
	}

	if err := m.start(rec, rootfs); err != nil {
		return nil, err
	}
	if err := m.startImageCmdUnless(ctx, rec, o); err != nil {
		return nil, err
	}
	rec.State = RecordCreated
	if err := m.paths.writeRecord(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// start starts PID 1 of an existing record on rootfs.
func (m *Manager) start(rec *Record, rootfs string) (err error) {
	id := rec.ID
	runDir := m.paths.RunDir(id)
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return err
	}
	spec, err := buildSpec(specInput{
		ID: id, Hostname: rec.Hostname, Rootfs: rootfs, AgentHostPath: rec.Agent,
		NoNewPrivileges: rec.NoNewPrivileges, Labels: rec.Labels,
	})
	if err != nil {
		return err
	}
	if err := applyResources(spec, rec); err != nil {
		return err
	}
	if err := m.setupNetwork(rec, spec); err != nil {
		return err
	}
	addVolumeMounts(spec, rec.Mounts)
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: id, Spec: spec})
	if err != nil {
		return fmt.Errorf("container config: %w", err)
	}
	rec.MountPoints = mountPoints(cfg)
	ln, err := listenUnix(m.paths.SocketPath(id))
	if err != nil {
		return fmt.Errorf("agent socket: %w", err)
	}
	lnFile, err := ln.File()
	ln.Close() // the socket file stays (unlink on close is off); the dup lives in lnFile
	if err != nil {
		return err
	}
	defer lnFile.Close()
	alog, err := newAgentLog()
	if err != nil {
		return err
	}
	defer alog.close()
	logFile := alog.W

	if err := os.MkdirAll(m.paths.Libcontainer(), 0o700); err != nil {
		return err
	}
	c, err := libcontainer.Create(m.paths.Libcontainer(), id, cfg)
	if err != nil {
		return fmt.Errorf("libcontainer create: %w", err)
	}
	proc := &libcontainer.Process{
		Args:       spec.Process.Args,
		Env:        spec.Process.Env,
		Cwd:        "/",
		Stdout:     logFile,
		Stderr:     logFile,
		ExtraFiles: []*os.File{lnFile},
		Init:       true,
		LogLevel:   strconv.Itoa(int(logrus.GetLevel())),
	}
	if err := c.Run(proc); err != nil {
		c.Destroy()
		return fmt.Errorf("start PID 1: %w", err)
	}
	logFile.Close() // PID 1 holds its own copy
	// PID 1 is our child until this process exits: reap it, so a long-lived
	// SDK program never keeps a zombie.
	go proc.Wait() //nolint:errcheck
	// The agent answers the handshake only once its signal handlers are in
	// place; a SIGTERM before that would be dropped (PID 1 of a namespace
	// ignores signals it has no handler for), so create waits for it.
	hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	conn, err := agent.Dial(hctx, m.paths.SocketPath(id))
	cancel()
	if err != nil {
		return fmt.Errorf("agent did not answer: %w (agent output: %q)", err, alog.text(time.Second))
	}
	conn.Close()
	st, err := c.State()
	if err == nil {
		rec.InitPID = st.InitProcessPid
	}
	rec.StartedAt = time.Now().UTC()
	return nil
}

// listenUnix binds a listening unix socket at path, reaching paths longer
// than sun_path (108 bytes) through /proc/self/fd/N of the folder.
func listenUnix(path string) (*net.UnixListener, error) {
	os.Remove(path)
	addr := path
	if len(path) > 100 {
		dir, err := os.OpenFile(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		defer dir.Close()
		addr = "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + filepath.Base(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

var (
	agentOnce sync.Once
	agentBin  []byte
	agentSum  string
	agentErr  error
)

// installAgent writes the embedded agent binary read-only under the state root
// at a content-addressed name (an upgrade never touches a running container's
// agent) and returns its path.
func (m *Manager) installAgent() (string, error) {
	agentOnce.Do(func() {
		agentBin, agentErr = initbin.Binary()
		if agentErr == nil {
			sum := sha256.Sum256(agentBin)
			agentSum = hex.EncodeToString(sum[:])
		}
	})
	if agentErr != nil {
		return "", agentErr
	}
	path := filepath.Join(m.paths.Bin(), "pocketdock-init-"+agentSum[:16])
	if fi, err := os.Stat(path); err == nil && fi.Size() == int64(len(agentBin)) {
		return path, nil
	}
	if err := os.MkdirAll(m.paths.Bin(), 0o755); err != nil {
		return "", err
	}
	// One page per write: the kernel then caches the file in single-page
	// folios, and the pages an idle agent gives back (dropIdleTextPages in
	// cmd/pocketdock-init) are really unmapped. Written at once, the file
	// sits in large folios (ext4 on recent kernels), and touching one byte
	// of such a folio maps all of it again: about 0.6 MiB more of the agent
	// stays mapped in every container (measured with make bench -only pss).
	if err := writeFileAtomicChunks(path, agentBin, 0o555, os.Getpagesize()); err != nil {
		return "", err
	}
	return path, nil
}

// Get returns the record of nameOrID: exact name, full ID, unique ID prefix.
func (m *Manager) Get(nameOrID string) (*Record, error) {
	return m.paths.findRecord(nameOrID)
}

// List returns every container record of this state root, oldest first.
func (m *Manager) List() ([]*Record, error) {
	return m.paths.listRecords()
}

// Status returns the live status of rec: created, running, paused or exited
// (libcontainer's state; no state at all means exited).
func (m *Manager) Status(rec *Record) (string, error) {
	if m.rebootedNow(rec) {
		return StatusExited, nil
	}
	c, err := libcontainer.Load(m.paths.Libcontainer(), rec.ID)
	if err != nil {
		if errors.Is(err, libcontainer.ErrNotExist) {
			return StatusExited, nil
		}
		return "", err
	}
	st, err := c.Status()
	if err != nil {
		return "", err
	}
	switch st {
	case libcontainer.Created:
		return StatusCreated, nil
	case libcontainer.Running:
		return StatusRunning, nil
	case libcontainer.Paused:
		return StatusPaused, nil
	default:
		return StatusExited, nil
	}
}

// Exec runs req in the running container rec and waits for it (agent.Run).
// ErrContainerNotRunning when the container is not running (a paused one is
// refused: exec into a frozen cgroup would hang).
func (m *Manager) Exec(ctx context.Context, rec *Record, req agent.ExecRequest, opts agent.RunOptions) (agent.RunResult, error) {
	if st, err := m.Status(rec); err != nil {
		return agent.RunResult{}, err
	} else if st != StatusRunning {
		return agent.RunResult{}, fmt.Errorf("%w: %s is %s", ErrContainerNotRunning, rec.Name, st)
	}
	res, err := agent.Run(ctx, m.paths.SocketPath(rec.ID), req, opts)
	return res, m.execError(rec, err)
}

// Stop ends PID 1 of rec: SIGTERM, then SIGKILL after grace (force: SIGKILL at
// once), then removes libcontainer's state and the container's cgroups. The
// rootfs and the record stay. A container that is not running is no error;
// one removed meanwhile is ErrContainerGone.
func (m *Manager) Stop(ctx context.Context, rec *Record, force bool, grace time.Duration) error {
	if force {
		m.killThroughLock(rec.ID)
	}
	cl, err := m.lockExisting(rec.ID)
	if err != nil {
		return err
	}
	defer cl.Unlock()
	if m.rebootedNow(rec) {
		return m.dropStale(rec.ID)
	}
	return m.stopLocked(ctx, rec.ID, force, grace)
}

func (m *Manager) stopLocked(ctx context.Context, id string, force bool, grace time.Duration) (err error) {
	defer func() {
		if err == nil {
			err = m.releaseNetwork(id)
		}
	}()
	c, err := libcontainer.Load(m.paths.Libcontainer(), id)
	if err != nil {
		// No (readable) state.json: nothing runs under libcontainer's
		// control, but a killed create may have left cgroups, processes
		// in them and the state folder.
		if oerr := m.removeOrphanState(id); oerr != nil {
			return errors.Join(err, oerr)
		}
		return nil
	}
	st, err := c.Status()
	if err != nil {
		return err
	}
	if st == libcontainer.Paused {
		if err := c.Resume(); err != nil {
			return fmt.Errorf("thaw before stop: %w", err)
		}
		st = libcontainer.Running
	}
	if st != libcontainer.Stopped {
		state, err := c.State()
		if err != nil {
			return err
		}
		pid := state.InitProcessPid
		pidfd, perr := unix.PidfdOpen(pid, 0)
		if perr == nil {
			defer unix.Close(pidfd)
		}
		// The grace period ends early when ctx ends; the wait after
		// SIGKILL never does (it is bounded), so a cancelled stop still
		// finishes instead of leaving a killed but undestroyed container.
		exited := func(ctx context.Context, d time.Duration) bool {
			if perr != nil {
				// No pidfd: poll libcontainer's view.
				deadline := time.Now().Add(d)
				for {
					if s, err := c.Status(); err == nil && s == libcontainer.Stopped {
						return true
					}
					if time.Now().After(deadline) {
						return false
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			return waitPidfd(ctx, pidfd, d)
		}
		done := false
		if !force {
			if err := c.Signal(unix.SIGTERM); err == nil {
				done = exited(ctx, grace)
			}
		}
		if !done {
			if err := c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
				slog.Debug("SIGKILL PID 1", "container", id, "error", err)
			}
			if !exited(context.WithoutCancel(ctx), 10*time.Second) {
				return fmt.Errorf("container %s: PID 1 (host pid %d) did not exit after SIGKILL", id, pid)
			}
		}
	}
	if err := c.Destroy(); err != nil {
		return fmt.Errorf("destroy %s: %w", id, err)
	}
	removeEmptyCgroupParents()
	return nil
}

// waitPidfd waits until the process behind pidfd exits, up to d.
func waitPidfd(ctx context.Context, pidfd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return false
		}
		ms := int(left / time.Millisecond)
		if ms > 100 {
			ms = 100 // wake up to look at ctx
		}
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false
		}
		if n > 0 {
			return true
		}
	}
}

// Remove stops rec (see Stop) and deletes everything of it: the rootfs,
// the run directory and the record.
func (m *Manager) Remove(ctx context.Context, rec *Record, force bool, grace time.Duration) error {
	if force {
		m.killThroughLock(rec.ID)
	}
	cl, err := m.lockExisting(rec.ID)
	if err != nil {
		return err
	}
	defer cl.Unlock()
	if m.rebootedNow(rec) {
		if err := m.dropStale(rec.ID); err != nil {
			return err
		}
	}
	if err := m.stopLocked(ctx, rec.ID, force, grace); err != nil {
		return err
	}
	return m.teardown(ctx, rec.ID, false, true)
}

// teardown removes what a container has (PID 1 killed first when kill), in the
// order kill → destroy → unmount → delete, and the record last when removeRecord.
// Used by Remove and by a failed Create's rollback; each step tolerates absence.
func (m *Manager) teardown(ctx context.Context, id string, kill, removeRecord bool) error {
	var errs []error
	if kill {
		if err := m.stopLocked(ctx, id, true, 0); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.releaseNetwork(id); err != nil {
		errs = append(errs, err)
	}
	if store, err := m.Images(); err != nil {
		errs = append(errs, err)
	} else if err := store.RemoveRootfs(id); err != nil {
		errs = append(errs, err)
	} else {
		snapshot.RemoveLeftovers(store, id)
	}
	if err := os.RemoveAll(m.paths.RunDir(id)); err != nil {
		errs = append(errs, err)
	}
	if err := m.removeHalfMadeState(id); err != nil {
		errs = append(errs, err)
	}
	if removeRecord && len(errs) == 0 {
		if err := os.RemoveAll(m.paths.RecordDir(id)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cgroupParent is the cgroup folder (below each hierarchy) that holds every container.
const cgroupParent = "pocketdock"

// removeEmptyCgroupParents removes /sys/fs/cgroup/*/pocketdock (and the
// unified one) when no container cgroup is left in it; rmdir fails on a
// non-empty cgroup, so another container's is never touched.
func removeEmptyCgroupParents() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent)
	dirs = append(dirs, "/sys/fs/cgroup/"+cgroupParent)
	for _, d := range dirs {
		unix.Rmdir(d)
	}
}
