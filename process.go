package pocketdock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pdrt "github.com/pocketdock/pocketdock/runtime"
	"github.com/pocketdock/pocketdock/runtime/agent"
)

// DefaultBufferSize is a detached job's ring buffer per stream: 1 MiB.
const DefaultBufferSize = agent.DefaultJobCap

// WithBufferSize sets a detached job's ring buffer per stream in bytes
// (default DefaultBufferSize, at most 256 MiB). Only Detach uses it.
func WithBufferSize(n int64) RunOption { return func(c *runConfig) { c.bufSize = n } }

// BufferSnapshot is a detached job's buffered output.
type BufferSnapshot struct {
	Stdout, Stderr string
}

// JobInfo describes one detached job of a container (Container.Jobs).
type JobInfo struct {
	// ID is the small per-container job ID.
	ID int
	// Command is the command line (at most 1024 bytes).
	Command string
	// Running is true until the main process exited.
	Running bool
	// ExitCode is the exit code once ended (128+N for signal N), else -1.
	ExitCode int
	// Pid is the main process's pid inside the container.
	Pid int
	// StartedAt and EndedAt (zero while running).
	StartedAt, EndedAt time.Time
	// StdoutBytes and StderrBytes count all output ever written; the
	// buffers keep the last BufferSize bytes of each.
	StdoutBytes, StderrBytes int64
	// BufferSize is the ring size per stream in bytes.
	BufferSize int64
	tag        string
}

func jobInfo(j agent.JobInfo) JobInfo {
	in := JobInfo{ID: j.ID, Command: j.Cmd, Running: j.Running, ExitCode: -1, Pid: j.Pid,
		StartedAt: j.StartedAt(), EndedAt: j.EndedAt(), StdoutBytes: j.StdoutTotal,
		StderrBytes: j.StderrTotal, BufferSize: j.Cap, tag: j.Tag}
	if j.ExitCode != nil {
		in.ExitCode = *j.ExitCode
	}
	return in
}

// Process is a detached job: it belongs to the container's agent and runs
// on after the program that started it exits. Its output is kept in a ring
// buffer per stream in the container's run directory.
type Process struct {
	c  *Container
	id int
}

// Detach starts cmd (through /bin/sh -c, or WithLang) as a detached job
// and returns at once. Options: WithBufferSize, WithEnv, WithWorkdir,
// WithUser, WithLang (WithTimeout, WithStdin and WithMaxOutput do not
// apply; stdin is empty). Errors: ErrInvalidArgument, ErrContainerNotRunning.
func (c *Container) Detach(ctx context.Context, cmd string, opts ...RunOption) (*Process, error) {
	var cfg runConfig
	for _, o := range opts {
		o(&cfg)
	}
	argv, err := shellArgv(cmd, cfg)
	if err != nil {
		return nil, fmt.Errorf("detach in %s: %w", c.rec.Name, err)
	}
	return c.detach(ctx, argv, cfg)
}

// DetachExec is Detach without a shell.
func (c *Container) DetachExec(ctx context.Context, argv []string, opts ...RunOption) (*Process, error) {
	var cfg runConfig
	for _, o := range opts {
		o(&cfg)
	}
	return c.detach(ctx, argv, cfg)
}

func (c *Container) detach(ctx context.Context, argv []string, cfg runConfig) (*Process, error) {
	req, err := c.request(argv, cfg)
	if err != nil {
		return nil, fmt.Errorf("detach in %s: %w", c.rec.Name, err)
	}
	j, err := c.m.Detach(ctx, c.rec, req, cfg.bufSize)
	if err != nil {
		return nil, fmt.Errorf("detach in %s: %w", c.rec.Name, err)
	}
	return &Process{c: c, id: j.ID}, nil
}

// Jobs lists the container's detached jobs: the running ones and the last
// 256 that ended, by ID.
func (c *Container) Jobs(ctx context.Context) ([]JobInfo, error) {
	list, err := c.m.Jobs(ctx, c.rec)
	if err != nil {
		return nil, fmt.Errorf("jobs of %s: %w", c.rec.Name, err)
	}
	out := make([]JobInfo, 0, len(list))
	for _, j := range list {
		out = append(out, jobInfo(j))
	}
	return out, nil
}

// Process returns a handle to detached job id (as Jobs lists it).
// ErrInvalidArgument when the agent knows no such job.
func (c *Container) Process(ctx context.Context, id int) (*Process, error) {
	p := &Process{c: c, id: id}
	if _, err := p.info(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// ID is the job's small per-container ID.
func (p *Process) ID() int { return p.id }

func (p *Process) info(ctx context.Context) (JobInfo, error) {
	list, err := p.c.m.Jobs(ctx, p.c.rec)
	if err != nil {
		return JobInfo{}, fmt.Errorf("job %d of %s: %w", p.id, p.c.rec.Name, err)
	}
	for _, j := range list {
		if j.ID == p.id {
			return jobInfo(j), nil
		}
	}
	return JobInfo{}, fmt.Errorf("job %d of %s: %w: no such job (the agent keeps the last 256 ended ones)", p.id, p.c.rec.Name, ErrInvalidArgument)
}

// Info returns the job's current state.
func (p *Process) Info(ctx context.Context) (JobInfo, error) { return p.info(ctx) }

// IsRunning reports whether the job's main process still runs.
func (p *Process) IsRunning(ctx context.Context) (bool, error) {
	in, err := p.info(ctx)
	return in.Running, err
}

// Kill sends sig (0 = SIGTERM) to every process of the job's tree,
// including children that started a new session. A no-op once it ended.
func (p *Process) Kill(ctx context.Context, sig syscall.Signal) error {
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	conn, err := p.c.m.Dial(ctx, p.c.rec)
	if err != nil {
		return fmt.Errorf("kill job %d of %s: %w", p.id, p.c.rec.Name, err)
	}
	defer conn.Close()
	if err := conn.SignalJob(p.id, sig); err != nil {
		return fmt.Errorf("kill job %d of %s: %w", p.id, p.c.rec.Name, err)
	}
	return nil
}

// Wait blocks until the job ended (or ctx is done) and returns its result:
// the exit code (128+N when signal N killed it), the buffered output (as
// Peek) and the run time. Truncated is set when a buffer overflowed.
func (p *Process) Wait(ctx context.Context) (ExecResult, error) {
	conn, err := p.c.m.Dial(ctx, p.c.rec)
	if err != nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("wait job %d of %s: %w", p.id, p.c.rec.Name, err)
	}
	defer conn.Close()
	type res struct {
		j   agent.JobInfo
		err error
	}
	ch := make(chan res, 1)
	go func() {
		j, err := conn.WaitJob(p.id)
		ch <- res{j, err}
	}()
	var r res
	select {
	case r = <-ch:
	case <-ctx.Done():
		conn.Close()
		return ExecResult{ExitCode: -1}, fmt.Errorf("wait job %d of %s: %w", p.id, p.c.rec.Name, ctx.Err())
	}
	if r.err != nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("wait job %d of %s: %w", p.id, p.c.rec.Name, r.err)
	}
	in := jobInfo(r.j)
	snap, _, err := p.buffer(in, false)
	if err != nil {
		return ExecResult{ExitCode: in.ExitCode}, err
	}
	p.saveLog(in)
	return ExecResult{ExitCode: in.ExitCode, Stdout: snap.Stdout, Stderr: snap.Stderr,
		Duration: in.EndedAt.Sub(in.StartedAt), Truncated: in.StdoutBytes > in.BufferSize || in.StderrBytes > in.BufferSize}, nil
}

// Read returns the output buffered since the last Read (of any program) and
// consumes it.
func (p *Process) Read(ctx context.Context) (BufferSnapshot, error) {
	in, err := p.info(ctx)
	if err != nil {
		return BufferSnapshot{}, err
	}
	snap, _, err := p.buffer(in, true)
	return snap, err
}

// Peek returns the output buffered since the last Read without consuming it.
func (p *Process) Peek(ctx context.Context) (BufferSnapshot, error) {
	in, err := p.info(ctx)
	if err != nil {
		return BufferSnapshot{}, err
	}
	snap, _, err := p.buffer(in, false)
	return snap, err
}

// BufferSize is the number of bytes Peek would return now (both streams).
func (p *Process) BufferSize(ctx context.Context) (int64, error) {
	in, err := p.info(ctx)
	if err != nil {
		return 0, err
	}
	_, n, err := p.buffer(in, false)
	return n, err
}

// BufferOverflow reports whether either stream wrote more than the buffer
// holds, so that its oldest output was dropped.
func (p *Process) BufferOverflow(ctx context.Context) (bool, error) {
	in, err := p.info(ctx)
	if err != nil {
		return false, err
	}
	return in.StdoutBytes > in.BufferSize || in.StderrBytes > in.BufferSize, nil
}

// readMu serialises Read's read-modify-write of the consumed offsets in
// this process (other processes may race; the offsets only move forward).
var readMu sync.Mutex

// buffer reads the job's rings from the consumed offsets on; consume moves
// the offsets to the end.
func (p *Process) buffer(in JobInfo, consume bool) (BufferSnapshot, int64, error) {
	readMu.Lock()
	defer readMu.Unlock()
	paths := p.c.m.Paths()
	id := p.c.rec.ID
	offFile := paths.JobFile(id, in.tag, "read")
	var outFrom, errFrom int64
	if b, err := os.ReadFile(offFile); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			outFrom, _ = strconv.ParseInt(f[0], 10, 64)
			errFrom, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	// Totals measured again after reading: overwritten bytes are dropped.
	after := in
	if in.Running {
		if fresh, err := p.info(context.Background()); err == nil {
			after = fresh
		}
	}
	out, _, err := pdrt.ReadRing(paths.JobFile(id, in.tag, "out"), outFrom, in.StdoutBytes, after.StdoutBytes, in.BufferSize)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return BufferSnapshot{}, 0, err
	}
	errb, _, err := pdrt.ReadRing(paths.JobFile(id, in.tag, "err"), errFrom, in.StderrBytes, after.StderrBytes, in.BufferSize)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return BufferSnapshot{}, 0, err
	}
	if consume {
		tmp := offFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d\n", in.StdoutBytes, in.StderrBytes)), 0o600); err == nil {
			os.Rename(tmp, offFile)
		}
	}
	return BufferSnapshot{Stdout: string(out), Stderr: string(errb)}, int64(len(out) + len(errb)), nil
}

// events are a container's job callbacks and the watcher that drives them.
type events struct {
	mu       sync.Mutex
	onStdout []func(*Container, []byte)
	onStderr []func(*Container, []byte)
	onExit   []func(*Container, int)
	started  bool
}

var eventsMu sync.Mutex

func (c *Container) events() *events {
	eventsMu.Lock()
	defer eventsMu.Unlock()
	if c.ev == nil {
		c.ev = &events{}
	}
	return c.ev
}

// OnStdout registers fn to get the stdout of the container's detached jobs
// as it is written (polled every 100 ms by a goroutine of this program;
// output written before the registration is not delivered).
func (c *Container) OnStdout(fn func(c *Container, data []byte)) {
	ev := c.events()
	ev.mu.Lock()
	ev.onStdout = append(ev.onStdout, fn)
	ev.mu.Unlock()
	c.watch()
}

// OnStderr is OnStdout for stderr.
func (c *Container) OnStderr(fn func(c *Container, data []byte)) {
	ev := c.events()
	ev.mu.Lock()
	ev.onStderr = append(ev.onStderr, fn)
	ev.mu.Unlock()
	c.watch()
}

// OnExit registers fn to be called with the exit code of each detached job
// that ends after the registration.
func (c *Container) OnExit(fn func(c *Container, code int)) {
	ev := c.events()
	ev.mu.Lock()
	ev.onExit = append(ev.onExit, fn)
	ev.mu.Unlock()
	c.watch()
}

// watch starts the watcher once; it ends when the container stops.
func (c *Container) watch() {
	ev := c.events()
	ev.mu.Lock()
	if ev.started {
		ev.mu.Unlock()
		return
	}
	ev.started = true
	ev.mu.Unlock()
	type seen struct {
		out, err int64
		running  bool
	}
	state := map[string]*seen{}
	poll := func(first bool) bool {
		list, err := c.m.Jobs(context.Background(), c.rec)
		if err != nil {
			return false
		}
		paths := c.m.Paths()
		for _, aj := range list {
			j := jobInfo(aj)
			s := state[j.tag]
			if s == nil {
				s = &seen{running: true}
				if first {
					s = &seen{out: j.StdoutBytes, err: j.StderrBytes, running: j.Running}
				}
				state[j.tag] = s
			}
			ev.mu.Lock()
			outs, errs, exits := ev.onStdout, ev.onStderr, ev.onExit
			ev.mu.Unlock()
			if j.StdoutBytes > s.out {
				b, _, _ := pdrt.ReadRing(paths.JobFile(c.rec.ID, j.tag, "out"), s.out, j.StdoutBytes, j.StdoutBytes, j.BufferSize)
				s.out = j.StdoutBytes
				for _, fn := range outs {
					if len(b) > 0 {
						fn(c, b)
					}
				}
			}
			if j.StderrBytes > s.err {
				b, _, _ := pdrt.ReadRing(paths.JobFile(c.rec.ID, j.tag, "err"), s.err, j.StderrBytes, j.StderrBytes, j.BufferSize)
				s.err = j.StderrBytes
				for _, fn := range errs {
					if len(b) > 0 {
						fn(c, b)
					}
				}
			}
			if s.running && !j.Running {
				s.running = false
				for _, fn := range exits {
					fn(c, j.ExitCode)
				}
			}
		}
		return true
	}
	if !poll(true) {
		return
	}
	go func() {
		for {
			time.Sleep(100 * time.Millisecond)
			if !poll(false) {
				return
			}
		}
	}()
}

// JobOutput returns job j's output (as Jobs listed it) from byte offset
// outFrom of stdout and errFrom of stderr on, without consuming anything;
// bytes older than the buffer holds are gone. Offsets count every byte the
// job ever wrote (JobInfo.StdoutBytes is the end).
func (c *Container) JobOutput(j JobInfo, outFrom, errFrom int64) (BufferSnapshot, error) {
	paths := c.m.Paths()
	out, _, err := pdrt.ReadRing(paths.JobFile(c.rec.ID, j.tag, "out"), outFrom, j.StdoutBytes, j.StdoutBytes, j.BufferSize)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return BufferSnapshot{}, fmt.Errorf("output of job %d in %s: %w", j.ID, c.rec.Name, err)
	}
	errb, _, err := pdrt.ReadRing(paths.JobFile(c.rec.ID, j.tag, "err"), errFrom, j.StderrBytes, j.StderrBytes, j.BufferSize)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return BufferSnapshot{}, fmt.Errorf("output of job %d in %s: %w", j.ID, c.rec.Name, err)
	}
	return BufferSnapshot{Stdout: string(out), Stderr: string(errb)}, nil
}
