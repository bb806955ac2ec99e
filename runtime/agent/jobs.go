package agent

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// Message types of protocol version 2 (see the package comment).
const (
	// TypeDetach (host -> agent) starts a detached job: Exec and Detach are
	// set and the frame carries three fds: stdin, and the files the agent
	// keeps the job's stdout and stderr in (a ring of Detach.Cap bytes each).
	TypeDetach = "detach"
	// TypeJobs asks for (host -> agent) or lists (agent -> host) detached
	// jobs: Jobs is set in the answer.
	TypeJobs = "jobs"
	// TypeJobWait (host -> agent) asks to be told when job Job has ended;
	// the answer is a TypeJobs frame with that one job.
	TypeJobWait = "job_wait"
	// TypeJobSignal (host -> agent) sends Signal to every process of job
	// Job's tree; the answer is TypeOK or TypeError.
	TypeJobSignal = "job_signal"
	// TypeFile (host -> agent) runs a file operation: File is set and the
	// frame carries one pipe fd; the answer, after the transfer, is TypeOK
	// or TypeError.
	TypeFile = "file"
	// TypeOK (agent -> host) reports that a request succeeded.
	TypeOK = "ok"
)

// Bounds on detached jobs.
const (
	// DefaultJobCap is the default size of each of a job's output rings in
	// bytes (1 MiB).
	DefaultJobCap = 1 << 20
	// MaxJobCap is the largest ring a job may ask for (256 MiB).
	MaxJobCap = 256 << 20
	// MaxJobID is the largest job ID the host accepts from an agent.
	MaxJobID = 1 << 30
	// KeptExitStatuses is how many ended jobs the agent remembers.
	KeptExitStatuses = 256
	// MaxJobCmd is the longest command text a JobInfo carries, in bytes.
	MaxJobCmd = 1024
)

// DetachRequest are the options of a detach frame.
type DetachRequest struct {
	// Tag names the job's output files on the host: 32 lowercase hex
	// digits, chosen by the host. The agent only stores and reports it; the
	// host re-validates it before it builds any path from it.
	Tag string `json:"tag"`
	// Cap is the size of each output ring in bytes: 1..MaxJobCap.
	Cap int64 `json:"cap"`
}

var tagRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidTag reports whether tag has the form of a DetachRequest.Tag.
func ValidTag(tag string) bool { return tagRE.MatchString(tag) }

// Validate checks a DetachRequest; errors wrap ErrInvalidRequest.
func (d *DetachRequest) Validate() error {
	if d == nil {
		return fmt.Errorf("%w: missing detach options", ErrInvalidRequest)
	}
	if !ValidTag(d.Tag) {
		return fmt.Errorf("%w: job tag %q: want 32 lowercase hex digits", ErrInvalidRequest, d.Tag)
	}
	if d.Cap < 1 || d.Cap > MaxJobCap {
		return fmt.Errorf("%w: output buffer of %d bytes: want 1..%d", ErrInvalidRequest, d.Cap, MaxJobCap)
	}
	return nil
}

// JobInfo is the agent's view of one detached job.
type JobInfo struct {
	// ID is the small per-container job ID (1, 2, ...).
	ID int `json:"id"`
	// Tag is the host's tag for the job's files (DetachRequest.Tag).
	Tag string `json:"tag"`
	// Cmd is the command line (argv joined by spaces), at most MaxJobCmd bytes.
	Cmd string `json:"cmd"`
	// Pid is the main process's pid in the container.
	Pid int `json:"pid"`
	// Running is true until the main process exited.
	Running bool `json:"running"`
	// ExitCode is the exit code (0..255, 128+n for signal n) once ended.
	ExitCode *int `json:"exit_code,omitempty"`
	// Started and Ended are Unix times in milliseconds (Ended 0 while running).
	Started int64 `json:"started"`
	Ended   int64 `json:"ended,omitempty"`
	// Cap is the size of each output ring in bytes.
	Cap int64 `json:"cap"`
	// StdoutTotal and StderrTotal count every byte the job wrote to each
	// stream; the ring files hold the last Cap of them, byte i at offset i%Cap.
	StdoutTotal int64 `json:"stdout_total"`
	StderrTotal int64 `json:"stderr_total"`
}

// validate checks a JobInfo that came from the agent.
func (j *JobInfo) validate() error {
	switch {
	case j.ID < 1 || j.ID > MaxJobID:
		return fmt.Errorf("%w: job id %d (want 1..%d)", ErrProtocol, j.ID, MaxJobID)
	case !ValidTag(j.Tag):
		return fmt.Errorf("%w: job %d: bad tag", ErrProtocol, j.ID)
	case j.Pid < 0 || j.Pid > maxPid:
		return fmt.Errorf("%w: job %d: pid %d", ErrProtocol, j.ID, j.Pid)
	case j.Cap < 1 || j.Cap > MaxJobCap:
		return fmt.Errorf("%w: job %d: cap %d", ErrProtocol, j.ID, j.Cap)
	case j.StdoutTotal < 0 || j.StderrTotal < 0:
		return fmt.Errorf("%w: job %d: negative byte count", ErrProtocol, j.ID)
	case !j.Running && (j.ExitCode == nil || *j.ExitCode < 0 || *j.ExitCode > 255):
		return fmt.Errorf("%w: job %d: ended without an exit code in 0..255", ErrProtocol, j.ID)
	}
	j.Cmd = sanitize(j.Cmd)
	return nil
}

// StartedAt is Started as a time.
func (j JobInfo) StartedAt() time.Time { return time.UnixMilli(j.Started) }

// EndedAt is Ended as a time (zero while running).
func (j JobInfo) EndedAt() time.Time {
	if j.Ended == 0 {
		return time.Time{}
	}
	return time.UnixMilli(j.Ended)
}

// StartFiles is Start with ExtraFiles more fds after the three (req.ExtraFiles
// of them; for req.Tty the three are the pty slave). It returns the pid.
func (c *Conn) StartFiles(req ExecRequest, files ...*os.File) (int, error) {
	if err := req.Validate(); err != nil {
		return 0, err
	}
	if len(files) != 3+req.ExtraFiles {
		return 0, fmt.Errorf("%w: start %q: %d files for %d extra: want %d", ErrInvalidRequest, req.Argv[0], len(files), req.ExtraFiles, 3+req.ExtraFiles)
	}
	if req.ExtraFiles == 0 {
		return c.Start(req, files[0], files[1], files[2])
	}
	// Extra fds: the same path as Start, with more descriptors.
	return c.startWithJob(&Message{Type: TypeExec, Exec: &req}, req.Argv[0], files, nil)
}

// Detach starts req as a detached job of the agent: stdin is the job's
// standard input, stdout and stderr the (host) files the agent keeps each
// stream's last d.Cap bytes in. The job outlives this connection. It
// returns the job ID and pid.
func (c *Conn) Detach(req ExecRequest, d DetachRequest, stdin, stdout, stderr *os.File) (job, pid int, err error) {
	if err := req.Validate(); err != nil {
		return 0, 0, err
	}
	if err := d.Validate(); err != nil {
		return 0, 0, err
	}
	if req.ExtraFiles != 0 || req.Tty {
		return 0, 0, fmt.Errorf("%w: detach: no extra files or tty", ErrInvalidRequest)
	}
	m := &Message{Type: TypeDetach, Exec: &req, Detach: &d}
	var gotJob int
	pid, err = c.startWithJob(m, req.Argv[0], []*os.File{stdin, stdout, stderr}, &gotJob)
	if err != nil {
		return 0, 0, err
	}
	// The job belongs to the agent, not to this connection.
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	return gotJob, pid, nil
}

func (c *Conn) startWithJob(m *Message, name string, files []*os.File, job *int) (int, error) {
	for _, f := range files {
		if f == nil {
			return 0, fmt.Errorf("%w: start %q: nil file", ErrInvalidRequest, name)
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, fmt.Errorf("start %q: %w", name, ErrClosed)
	}
	if c.running {
		c.mu.Unlock()
		return 0, fmt.Errorf("%w: start %q: a command is already running on this connection", ErrInvalidRequest, name)
	}
	c.mu.Unlock()
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	err := c.write(m, fds...)
	runtime.KeepAlive(files)
	if err != nil {
		return 0, fmt.Errorf("start %q: %w", name, err)
	}
	c.c.SetReadDeadline(time.Now().Add(startTimeout))
	defer c.c.SetReadDeadline(time.Time{})
	for skipped := 0; ; skipped++ {
		a, err := c.read()
		if err != nil {
			return 0, fmt.Errorf("start %q: %w", name, err)
		}
		switch a.Type {
		case TypeStarted:
			if a.Pid <= 0 || a.Pid > maxPid {
				return 0, fmt.Errorf("%w: start %q: agent reported pid %d (want 1..%d)", ErrProtocol, name, a.Pid, maxPid)
			}
			if job != nil {
				if a.Job < 1 || a.Job > MaxJobID {
					return 0, fmt.Errorf("%w: detach %q: agent reported job %d (want 1..%d)", ErrProtocol, name, a.Job, MaxJobID)
				}
				*job = a.Job
			}
			c.mu.Lock()
			c.running = true
			c.mu.Unlock()
			return a.Pid, nil
		case TypeError:
			return 0, fmt.Errorf("%w: %q: %s", ErrStart, name, sanitize(a.Message))
		case TypeExit, TypeHello:
			return 0, fmt.Errorf("%w: start %q: unexpected %q frame before started", ErrProtocol, name, a.Type)
		}
		if skipped >= maxSkippedFrames {
			return 0, fmt.Errorf("%w: start %q: too many frames of unknown type", ErrProtocol, name)
		}
	}
}

// maxJobsListed bounds how many jobs the host accepts in one answer.
const maxJobsListed = 8192

// Jobs lists the agent's detached jobs (running ones and the last
// KeptExitStatuses ended ones), each validated.
func (c *Conn) Jobs() ([]JobInfo, error) {
	if err := c.write(&Message{Type: TypeJobs}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	c.c.SetReadDeadline(time.Now().Add(startTimeout))
	defer c.c.SetReadDeadline(time.Time{})
	return c.readJobs()
}

func (c *Conn) readJobs() ([]JobInfo, error) {
	for skipped := 0; ; skipped++ {
		m, err := c.read()
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		switch m.Type {
		case TypeJobs:
			if len(m.Jobs) > maxJobsListed {
				return nil, fmt.Errorf("%w: %d jobs listed (max %d)", ErrProtocol, len(m.Jobs), maxJobsListed)
			}
			for i := range m.Jobs {
				if err := m.Jobs[i].validate(); err != nil {
					return nil, err
				}
			}
			return m.Jobs, nil
		case TypeError:
			return nil, fmt.Errorf("%w: %s", ErrInvalidRequest, sanitize(m.Message))
		}
		if skipped >= maxSkippedFrames {
			return nil, fmt.Errorf("%w: jobs: too many unexpected frames", ErrProtocol)
		}
	}
}

// WaitJob blocks until job id has ended and returns its final info. It has
// no timeout; Close from another goroutine ends it with ErrClosed.
func (c *Conn) WaitJob(id int) (JobInfo, error) {
	if err := c.write(&Message{Type: TypeJobWait, Job: id}); err != nil {
		return JobInfo{}, fmt.Errorf("wait job %d: %w", id, err)
	}
	jobs, err := c.readJobs()
	if err != nil {
		return JobInfo{}, fmt.Errorf("wait job %d: %w", id, err)
	}
	if len(jobs) != 1 || jobs[0].ID != id || jobs[0].Running {
		return JobInfo{}, fmt.Errorf("%w: wait job %d: unexpected answer", ErrProtocol, id)
	}
	return jobs[0], nil
}

// SignalJob sends sig to every process of job id's tree (a no-op once it
// ended). ErrInvalidRequest for a bad signal, an *AgentError for an
// unknown job.
func (c *Conn) SignalJob(id int, sig syscall.Signal) error {
	if sig < 1 || sig > 64 {
		return fmt.Errorf("%w: signal %d: want 1..64", ErrInvalidRequest, int(sig))
	}
	if err := c.write(&Message{Type: TypeJobSignal, Job: id, Signal: int(sig)}); err != nil {
		return fmt.Errorf("signal job %d: %w", id, err)
	}
	c.c.SetReadDeadline(time.Now().Add(startTimeout))
	defer c.c.SetReadDeadline(time.Time{})
	return c.readOK("signal job " + strconv.Itoa(id))
}

// readOK waits for an ok or error frame.
func (c *Conn) readOK(what string) error {
	for skipped := 0; ; skipped++ {
		m, err := c.read()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		switch m.Type {
		case TypeOK:
			return nil
		case TypeError:
			return &AgentError{Op: what, Errno: syscall.Errno(m.Errno), Msg: sanitize(m.Message)}
		}
		if skipped >= maxSkippedFrames {
			return fmt.Errorf("%w: %s: too many unexpected frames", ErrProtocol, what)
		}
	}
}

// AgentError is a failure the agent reported for a request. It matches the
// errno (e.g. os.ErrNotExist for ENOENT) when the agent gave one.
type AgentError struct {
	// Op names the request.
	Op string
	// Errno is the agent's errno, 0 when none (only 1..4095 is kept).
	Errno syscall.Errno
	// Msg is the agent's sanitised message.
	Msg string
}

// Error is "OP: MSG", the agent's own words.
func (e *AgentError) Error() string { return e.Op + ": " + e.Msg }

// Is matches the errno's meaning.
func (e *AgentError) Is(target error) bool {
	if e.Errno > 0 && e.Errno < 4096 {
		return e.Errno.Is(target)
	}
	return false
}
