package pocketdock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock/image"
	"github.com/pocketdock/pocketdock/project"
	pdrt "github.com/pocketdock/pocketdock/runtime"
	"github.com/pocketdock/pocketdock/runtime/agent"
)

// Container is a handle to one container. It is safe for concurrent use.
type Container struct {
	m   *pdrt.Manager
	rec *pdrt.Record
	// ev holds the OnStdout/OnStderr/OnExit callbacks (made on first use).
	ev *events
}

// ID is the full container ID: 64 lowercase hex digits.
func (c *Container) ID() string { return c.rec.ID }

// Name is the container's name.
func (c *Container) Name() string { return c.rec.Name }

// Persist reports whether Shutdown only stops the container.
func (c *Container) Persist() bool { return c.rec.Persist }

// Project is the container's project name ("" if none).
func (c *Container) Project() string { return c.rec.Project }

// DataPath is the container's instance directory,
// <project root>/.pocketdock/instances/<name>, when it joined a project
// directory at create ("" if it has none).
func (c *Container) DataPath() string {
	if c.rec.ProjectRoot == "" {
		return ""
	}
	return project.InstanceDir(c.rec.ProjectRoot, c.rec.Name)
}

// Root is the state root in use ("" when the defaults are).
func (c *Container) Root() string { return c.m.Paths().Root }

// ExecResult is the outcome of a blocking run (API.md).
type ExecResult struct {
	// ExitCode is the command's exit status: 0–255, 128+N when killed by signal N,
	// 127 when the program was not found, -1 when the run timed out.
	ExitCode int
	// Stdout and Stderr hold the output, each capped at the run's max output.
	Stdout, Stderr string
	// Duration is the wall time from start to end.
	Duration time.Duration
	// TimedOut: the timeout (or the context) ended the run; the whole tree was killed.
	TimedOut bool
	// Truncated: output beyond the cap was read and dropped.
	Truncated bool
}

// OK reports exit code 0 and no timeout.
func (r ExecResult) OK() bool { return r.ExitCode == 0 && !r.TimedOut }

// RunOption changes one run.
type RunOption func(*runConfig)

type runConfig struct {
	timeout   time.Duration
	maxOutput int64
	lang      string
	env       []string
	workdir   string
	user      string
	stdin     io.Reader
	// onStdout and onStderr see output as it arrives (Stream).
	onStdout, onStderr func([]byte)
	// bufSize is a detached job's ring size per stream (Detach).
	bufSize int64
}

// WithTimeout sets the run's timeout; 0 keeps the container's default, a
// negative value means none. The earlier of it and the context wins.
func WithTimeout(d time.Duration) RunOption { return func(c *runConfig) { c.timeout = d } }

// WithMaxOutput caps each of stdout and stderr at n bytes (default 10 MiB;
// negative = no cap). Output beyond the cap is drained and dropped, and
// ExecResult.Truncated is set.
func WithMaxOutput(n int64) RunOption { return func(c *runConfig) { c.maxOutput = n } }

// WithLang runs the text in a language instead of /bin/sh: "python" (python3 -c)
// or "sh" (the default).
func WithLang(lang string) RunOption { return func(c *runConfig) { c.lang = lang } }

// WithEnv adds "KEY=VALUE" entries to the command's environment.
func WithEnv(kv ...string) RunOption { return func(c *runConfig) { c.env = append(c.env, kv...) } }

// WithWorkdir sets the command's working directory (absolute).
func WithWorkdir(dir string) RunOption { return func(c *runConfig) { c.workdir = dir } }

// WithUser runs the command as user ("name", "uid", "name:group", "uid:gid").
func WithUser(user string) RunOption { return func(c *runConfig) { c.user = user } }

// WithStdin feeds r to the command's standard input (default: empty).
func WithStdin(r io.Reader) RunOption { return func(c *runConfig) { c.stdin = r } }

// Run runs cmd through /bin/sh -c (or the WithLang interpreter) as the
// image's user, with its environment and working directory, and waits for it.
// A non-zero exit, a missing program (127) or a timeout are results, not
// errors. Errors: ErrContainerNotRunning, ErrContainerNotFound,
// ErrInvalidArgument (bad option), or a failure to reach the agent.
func (c *Container) Run(ctx context.Context, cmd string, opts ...RunOption) (ExecResult, error) {
	var cfg runConfig
	for _, o := range opts {
		o(&cfg)
	}
	var argv []string
	switch cfg.lang {
	case "", "sh", "shell", "bash":
		argv = []string{"/bin/sh", "-c", cmd}
	case "python", "python3", "py":
		argv = []string{"python3", "-c", cmd}
	default:
		return ExecResult{}, fmt.Errorf("run in %s: %w: language %q: want \"sh\" or \"python\"", c.rec.Name, ErrInvalidArgument, cfg.lang)
	}
	return c.exec(ctx, argv, cfg)
}

// Exec runs argv without a shell (argv[0] is looked up in the PATH), like Run.
func (c *Container) Exec(ctx context.Context, argv []string, opts ...RunOption) (ExecResult, error) {
	var cfg runConfig
	for _, o := range opts {
		o(&cfg)
	}
	if len(argv) == 0 || argv[0] == "" {
		return ExecResult{}, fmt.Errorf("exec in %s: %w: empty command", c.rec.Name, ErrInvalidArgument)
	}
	return c.exec(ctx, argv, cfg)
}

func (c *Container) exec(ctx context.Context, argv []string, cfg runConfig) (ExecResult, error) {
	p := c.rec.Process
	req := agent.ExecRequest{Argv: argv, Env: p.Env, Cwd: p.Cwd, UID: p.UID, GID: p.GID, Groups: p.Groups}
	if len(cfg.env) > 0 {
		req.Env = pdrt.MergeEnv(p.Env, cfg.env)
	}
	if cfg.workdir != "" {
		if cfg.workdir[0] != '/' {
			return ExecResult{}, fmt.Errorf("run in %s: %w: workdir %q: want an absolute path", c.rec.Name, ErrInvalidArgument, cfg.workdir)
		}
		req.Cwd = cfg.workdir
	}
	if cfg.user != "" {
		uid, gid, groups, err := c.m.ResolveUser(c.rec, cfg.user)
		if err != nil {
			return ExecResult{}, fmt.Errorf("run in %s: %w", c.rec.Name, err)
		}
		req.UID, req.GID, req.Groups = uid, gid, groups
	}
	timeout := cfg.timeout
	if timeout == 0 {
		timeout = c.rec.Timeout
	}
	res, err := c.m.Exec(ctx, c.rec, req, agent.RunOptions{Stdin: cfg.stdin, MaxOutput: cfg.maxOutput, Timeout: timeout, OnStdout: cfg.onStdout, OnStderr: cfg.onStderr})
	if err != nil {
		if _, gerr := c.m.Get(c.rec.ID); errors.Is(gerr, ErrContainerNotFound) {
			return ExecResult{}, fmt.Errorf("run in %s: %w", c.rec.Name, ErrContainerGone)
		}
		return ExecResult{}, fmt.Errorf("run in %s: %w", c.rec.Name, err)
	}
	r := ExecResult{ExitCode: res.ExitCode, Stdout: string(res.Stdout), Stderr: string(res.Stderr),
		Duration: res.Duration, TimedOut: res.TimedOut, Truncated: res.Truncated}
	c.recordRun(argv, r)
	return r, nil
}

// Shutdown stops the container — SIGTERM to PID 1, which forwards it to every
// command, then SIGKILL after DefaultStopGrace (force: SIGKILL at once) — and
// removes it with its files unless it was created with Persist. A container
// that was removed meanwhile (another handle, another process) is no error.
func (c *Container) Shutdown(ctx context.Context, force bool) error {
	var err error
	if c.rec.Persist {
		c.saveJobLogs(ctx)
		err = c.m.Stop(ctx, c.rec, force, DefaultStopGrace)
	} else {
		err = c.m.Remove(ctx, c.rec, force, DefaultStopGrace)
		if err == nil || errors.Is(err, ErrContainerGone) {
			removeInstance(c.rec)
		}
	}
	if errors.Is(err, ErrContainerGone) {
		return nil // removed meanwhile (by another handle or process): done
	}
	if err != nil {
		return fmt.Errorf("shutdown %s: %w", c.rec.Name, err)
	}
	return nil
}

// Destroy removes the container in any state at once (SIGKILL), with its
// files. A container that was removed already is no error.
func (c *Container) Destroy(ctx context.Context) error {
	_, err := c.destroy(ctx)
	return err
}

// destroy is Destroy; gone says the container had been removed already
// (by another handle or process), so this call removed nothing.
func (c *Container) destroy(ctx context.Context) (gone bool, err error) {
	err = c.m.Remove(ctx, c.rec, true, 0)
	if gone = errors.Is(err, ErrContainerGone); err != nil && !gone {
		return false, fmt.Errorf("destroy %s: %w", c.rec.Name, err)
	}
	removeInstance(c.rec)
	return gone, nil
}

// ContainerInfo is a live view of a container (API.md, Info); nothing is cached.
type ContainerInfo struct {
	ID, Name string
	// Status is "created", "running", "paused" or "exited".
	Status string
	// Image is the reference the container was created from; ImageID its storage ID.
	Image, ImageID string
	CreatedAt      time.Time
	StartedAt      time.Time
	// Uptime is the time since StartedAt while running, else 0.
	Uptime time.Duration
	// PID1 is the host PID of the container's PID 1 (the agent) while running, else 0.
	PID1 int
	// Cmd and Entrypoint are the image's.
	Cmd, Entrypoint []string
	Persist         bool
	Project         string
	// MemoryUsage is memory in use in bytes: the cgroup's usage minus its
	// inactive file cache, as docker counts it; MemoryUsageHuman the same in
	// go-units binary form ("12.5MiB"). 0 and "" unless running or paused.
	MemoryUsage      uint64
	MemoryUsageHuman string
	// MemoryLimit is the memory the container may use in bytes: MemLimit, or
	// the host's RAM when there is none; MemoryLimitHuman in binary form ("256MiB").
	MemoryLimit      uint64
	MemoryLimitHuman string
	// MemoryPercent is MemoryUsage / MemoryLimit × 100.
	MemoryPercent float64
	// CPUPercent is CPU time used over a 100 ms window, in percent of one
	// CPU (200 = two CPUs busy).
	CPUPercent float64
	// PIDs is the number of processes and threads in the container (the
	// pids cgroup), PID 1 included.
	PIDs int
	// Processes are the container's processes by PID: pid, user (from the
	// container's /etc/passwd), state and command line.
	Processes []ProcessInfo
	// OOMKilled reports that the OOM killer killed at least one process in
	// the container (OOMKillCount > 0), from memory.oom_control (cgroup v1) or
	// memory.events (v2) of its memory cgroup.
	OOMKilled    bool
	OOMKillCount uint64
	// MemLimitBytes, CPULimitPercent and PidsLimit are the configured caps
	// (0 = none; PidsLimit -1 = none); Devices the devices as given.
	MemLimitBytes   int64
	CPULimitPercent int
	PidsLimit       int64
	Devices         []string
	// Network is the network mode: "none" or "bridge".
	Network string
	// IPAddress is the container's address on the bridge while it runs ("" otherwise).
	IPAddress string
	// Ports are the published forwards while it runs, host ports resolved.
	Ports []PortMapping
}

// Info returns the container's live state.
func (c *Container) Info(ctx context.Context) (ContainerInfo, error) {
	st, err := c.m.Status(c.rec)
	if err != nil {
		return ContainerInfo{}, fmt.Errorf("info %s: %w", c.rec.Name, err)
	}
	if _, gerr := c.m.Get(c.rec.ID); errors.Is(gerr, ErrContainerNotFound) {
		return ContainerInfo{}, fmt.Errorf("info %s: %w", c.rec.Name, ErrContainerGone)
	}
	r := c.rec
	info := ContainerInfo{ID: r.ID, Name: r.Name, Status: st, Image: r.Image, ImageID: r.ImageID,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, Cmd: r.Cmd, Entrypoint: r.Entrypoint,
		Persist: r.Persist, Project: r.Project}
	if st == pdrt.StatusRunning || st == pdrt.StatusPaused {
		info.PID1 = r.InitPID
		info.Uptime = time.Since(r.StartedAt).Round(time.Millisecond)
	}
	if err := c.fillUsage(ctx, st, &info); err != nil {
		return ContainerInfo{}, fmt.Errorf("info %s: %w", c.rec.Name, err)
	}
	c.fillNetworkInfo(&info, st)
	return info, nil
}

func isImageNotFound(err error) bool { return errors.Is(err, image.ErrImageNotFound) }

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
