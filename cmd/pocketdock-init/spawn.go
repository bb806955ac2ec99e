package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"

	"github.com/pocketdock/pocketdock/runtime/agent"
	"golang.org/x/sys/unix"
)

// spawnArg is argv[1] of the spawner mode.
const spawnArg = "__spawn"

// The spawner's inherited descriptors besides 0, 1, 2.
const (
	statusFD  = 3 // spawner -> agent: one spawnStatus, then EOF
	controlFD = 4 // agent -> spawner: the request, then signal bytes
)

// spawnStatus is the spawner's one report to the agent.
type spawnStatus struct {
	// Pid is the running command's pid.
	Pid int `json:"pid,omitempty"`
	// Exit is set when the command could not be found (127) or executed
	// (126); the spawner exits with it.
	Exit int `json:"exit,omitempty"`
	// Error is set when the request could not be carried out.
	Error string `json:"error,omitempty"`
}

// ignoredSignals are caught and dropped by both modes (a handler, not
// SIG_IGN: handlers reset to default in a child, ignored ones would not).
var ignoredSignals = []os.Signal{
	syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU,
}

func spawnMain() {
	cloexecFrom(statusFD) // the command gets only 0, 1, 2
	status := os.NewFile(statusFD, "status")
	// Non-blocking, so the runtime's poller waits on it: a read blocked in
	// the kernel would hold an OS thread, and with the pids limit reached
	// (a fork bomb) the runtime could not start the thread it then needs —
	// fatal for the spawner, whose tree would escape the kill.
	syscall.SetNonblock(controlFD, true)
	ctl := os.NewFile(controlFD, "control")
	report := func(s spawnStatus) {
		b, _ := json.Marshal(s)
		status.Write(b)
		status.Close()
	}

	req, err := readRequest(ctl)
	if err != nil {
		report(spawnStatus{Error: err.Error()})
		os.Exit(1)
	}
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	// The tree kill must work when the command fills the pids limit: one
	// P and spare threads started now, while there is room (threads.go).
	runtime.GOMAXPROCS(1)
	reserveThreadsWithin(spawnerThreads)

	ignore := make(chan os.Signal, 8)
	signal.Notify(ignore, append([]os.Signal{syscall.SIGTERM}, ignoredSignals...)...)
	go func() {
		for range ignore {
		}
	}()
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)

	cwd := req.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if fi, err := os.Stat(cwd); err != nil {
		report(spawnStatus{Error: fmt.Sprintf("working directory %q: %v", cwd, unwrapPathErr(err))})
		os.Exit(1)
	} else if !fi.IsDir() {
		report(spawnStatus{Error: fmt.Sprintf("working directory %q: not a directory", cwd)})
		os.Exit(1)
	}
	c := creds{uid: req.UID, gid: req.GID, groups: req.Groups}
	path, code, msg := lookPath(req.Argv[0], req.Env, cwd, c)
	if code != 0 {
		cantRun(report, code, msg)
	}

	attr := &syscall.ProcAttr{
		Dir:   cwd,
		Env:   req.Env,
		Files: commandFiles(req.ExtraFiles),
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: req.Tty, Ctty: 0},
	}
	if os.Geteuid() == 0 || req.UID != uint32(os.Geteuid()) || req.GID != uint32(os.Getegid()) || len(req.Groups) > 0 {
		groups := req.Groups
		if groups == nil {
			groups = []uint32{}
		}
		attr.Sys.Credential = &syscall.Credential{Uid: req.UID, Gid: req.GID, Groups: groups}
	}
	// The command inherits oom_score_adj 1000 (the OOM killer takes it,
	// never PID 1); the spawner lowers its own back, which needs no
	// privilege down to the value it started with.
	oldAdj, _ := os.ReadFile("/proc/self/oom_score_adj")
	os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0)
	pid, err := syscall.ForkExec(path, req.Argv, attr)
	if len(oldAdj) > 0 {
		os.WriteFile("/proc/self/oom_score_adj", oldAdj, 0)
	}
	if err != nil {
		code := 126
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
			code = 127
		}
		cantRun(report, code, req.Argv[0]+": "+err.Error())
	}
	report(spawnStatus{Pid: pid})
	superviseCommand(pid, ctl, sigchld)
}

// cantRun reports a command that could not be found or executed: the
// message goes to its stderr, the code to the agent and as the exit code.
func cantRun(report func(spawnStatus), code int, msg string) {
	fmt.Fprintf(os.Stderr, "pocketdock: %s\n", msg)
	report(spawnStatus{Exit: code})
	os.Exit(code)
}

// superviseCommand reaps the spawner's children, runs tree signals asked for
// on the control pipe, and exits with the main command's code as soon as it
// exits — unless a tree kill is under way, which finishes first.
func superviseCommand(mainPid int, ctl *os.File, sigchld <-chan os.Signal) {
	self := os.Getpid()
	// The reader drains the control pipe at once and coalesces requests
	// into a bit set, so the agent's writes never wait on a slow tree walk.
	var pending atomic.Uint64
	wake := make(chan struct{}, 1)
	go func() {
		var b [256]byte
		for {
			n, err := ctl.Read(b[:])
			for _, s := range b[:n] {
				if s >= 1 && s <= 64 {
					pending.Or(1 << (s - 1))
				}
			}
			if err != nil {
				// The agent is gone or dropped us: kill the tree.
				pending.Or(1 << (syscall.SIGKILL - 1))
			}
			select {
			case wake <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	mainCode := -1
	killing := false
	killDone := make(chan struct{}, 1)
	for {
		select {
		case <-sigchld:
			for {
				var ws unix.WaitStatus
				pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
				if err == unix.EINTR {
					continue
				}
				if pid <= 0 {
					break
				}
				if code := exitCode(ws); pid == mainPid && code >= 0 {
					mainCode = code
				}
			}
		case <-wake:
			set := pending.Swap(0)
			for sig := syscall.Signal(1); sig <= 64; sig++ {
				if set&(1<<(sig-1)) == 0 {
					continue
				}
				if sig == syscall.SIGKILL {
					if !killing {
						killing = true
						go func() {
							killTree(self, nil)
							killDone <- struct{}{}
						}()
					}
					continue
				}
				signalTree(self, nil, sig)
			}
		case <-killDone:
			killing = false
		}
		if mainCode >= 0 && !killing {
			os.Exit(mainCode)
		}
	}
}

// exitCode turns a wait status into an exit code: the code if the process
// exited, 128+n if signal n killed it, -1 for other statuses.
func exitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return -1
}

// readRequest reads the request from the control pipe: a 4-byte big-endian
// length, then that much JSON. Nothing past it is read.
func readRequest(r io.Reader) (*agent.ExecRequest, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > agent.MaxFrameSize {
		return nil, fmt.Errorf("read request: bad length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	var req agent.ExecRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return &req, nil
}

// encodeRequest is readRequest's counterpart, used by the agent.
func encodeRequest(req *agent.ExecRequest) ([]byte, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(out, uint32(len(b)))
	copy(out[4:], b)
	return out, nil
}

// unwrapPathErr drops the path from a *PathError (the caller names it).
func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
