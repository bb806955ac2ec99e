package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pocketdock/pocketdock/runtime/agent"
	"golang.org/x/sys/unix"
)

const (
	// listenFD is the listening unix socket handed over by the host.
	listenFD = 3
	// allowPeerEnv names a peer pid accepted besides 0; honoured only when
	// the agent is not PID 1 (tests run it as an ordinary process).
	allowPeerEnv = "POCKETDOCK_INIT_ALLOW_PEER_PID"
	// handshakeTimeout bounds a new connection's hello.
	handshakeTimeout = 10 * time.Second
	// exitWriteTimeout bounds writing an exit frame to a host that does not
	// read.
	exitWriteTimeout = 5 * time.Second
	// maxStatus bounds the spawner's status report.
	maxStatus = 64 << 10
)

// command is one running command: its spawner process and the control pipe
// to it.
type command struct {
	spawner int
	done    chan struct{} // closed when the spawner was reaped

	mu     sync.Mutex
	ctl    *os.File // write end of the control pipe; nil once reaped
	code   int      // exit code, valid once done is closed
	exited bool
	// mainPid is the command's own pid, which is also its session ID (the
	// spawner starts it with setsid); 0 until the spawner reported it.
	mainPid int
	// killed: a tree kill was asked for while the spawner ran.
	killed bool
}

// signal asks the spawner to send sig to the command's tree; a no-op once
// the spawner is gone.
func (c *command) signal(sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exited || c.ctl == nil {
		return
	}
	if sig == syscall.SIGKILL {
		c.killed = true
	}
	c.ctl.Write([]byte{byte(sig)})
}

// reaped records the spawner's exit. The command is done then, unless its
// tree must still be killed here: the spawner ended while the command ran
// (it died: its Go runtime cannot start a thread when a fork bomb fills the
// pids limit), or a tree kill was asked for (the spawner may have died in
// the middle of it). The command's processes, below the agent now, keep the
// command's session ID: killSession ends them, and only then is the exit
// reported.
func (c *command) reaped(code int) {
	c.mu.Lock()
	c.exited = true
	c.code = code
	if c.ctl != nil {
		c.ctl.Close()
		c.ctl = nil
	}
	sid := c.mainPid
	orphaned := sid > 0 && sessionLeaderAlive(sid)
	sweep := sid > 0 && (c.killed || orphaned)
	if orphaned && !c.killed {
		logf("the spawner of command %d ended (status %d) while the command ran; killing the command's tree", sid, code)
		c.code = 128 + int(syscall.SIGKILL)
	}
	c.mu.Unlock()
	if !sweep {
		close(c.done)
		return
	}
	go func() {
		killSession(sid)
		close(c.done)
	}()
}

// server is the agent's state.
type server struct {
	allowPid int // a non-zero peer pid accepted (tests only)
	jobs     jobTable

	mu       sync.Mutex
	cmds     map[int]*command // by spawner pid, until reaped
	active   int              // commands not yet finished (exit reported)
	stopping bool
}

func agentMain() {
	// The agent's work is a few blocking syscalls per command; one P keeps
	// an idle container's memory low on many-core hosts.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	// PID 1 must keep working when a command fills the pids limit
	// (threads.go): it then kills the command's tree when the spawner died.
	reserveThreadsWithin(agentThreads)
	s := &server{cmds: make(map[int]*command)}
	if os.Getpid() != 1 {
		// Orphans must come to us as they would to PID 1.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			logf("set child subreaper: %v", err)
		}
		if v := os.Getenv(allowPeerEnv); v != "" {
			if pid, err := strconv.Atoi(v); err == nil && pid > 0 {
				s.allowPid = pid
			} else {
				logf("ignoring %s=%q: want a pid", allowPeerEnv, v)
			}
		}
	}

	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	sigterm := make(chan os.Signal, 1)
	signal.Notify(sigterm, syscall.SIGTERM)
	ignore := make(chan os.Signal, 8)
	signal.Notify(ignore, ignoredSignals...)
	go func() {
		for range ignore {
		}
	}()
	go s.reap(sigchld)
	go s.terminate(sigterm)

	if _, err := unix.FcntlInt(listenFD, unix.F_GETFD, 0); err != nil {
		logf("no listening socket on fd %d: %v", listenFD, err)
		os.Exit(2)
	}
	// Only fd 3 is ours; whatever else was inherited must not reach the
	// commands.
	cloexecFrom(listenFD)
	f := os.NewFile(listenFD, "agent.sock")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		logf("fd %d is not a listening socket: %v", listenFD, err)
		os.Exit(2)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		logf("fd %d is not a unix socket", listenFD)
		os.Exit(2)
	}
	go dropIdleTextPages()
	for {
		c, err := ul.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				logf("listener closed")
				os.Exit(2)
			}
			// EMFILE and friends: back off and retry.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go s.serve(c)
	}
}

// reap is the only wait4 caller of the agent: on each SIGCHLD it collects
// every exited child and hands the status of a spawner to its command. A
// spawner is registered under s.mu while it is forked, so a status that
// arrives before the registration waits for it.
func (s *server) reap(sigchld <-chan os.Signal) {
	for range sigchld {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if pid <= 0 {
				break
			}
			code := exitCode(ws)
			if code < 0 {
				continue
			}
			s.mu.Lock()
			c := s.cmds[pid]
			delete(s.cmds, pid)
			s.mu.Unlock()
			if c != nil {
				c.reaped(code)
			}
		}
	}
}

// terminate handles SIGTERM: forward it to every command tree, refuse new
// commands, exit 0 once all commands are finished (at once if none runs).
func (s *server) terminate(sigterm <-chan os.Signal) {
	for range sigterm {
		s.mu.Lock()
		s.stopping = true
		if s.active == 0 {
			os.Exit(0)
		}
		cmds := make([]*command, 0, len(s.cmds))
		for _, c := range s.cmds {
			cmds = append(cmds, c)
		}
		s.mu.Unlock()
		for _, c := range cmds {
			c.signal(syscall.SIGTERM)
		}
	}
}

// finished marks one command as completely handled.
func (s *server) finished() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.stopping && s.active == 0 {
		os.Exit(0)
	}
}

// peerAllowed reports whether the peer of c is outside our PID namespace
// (SO_PEERCRED pid 0), or the pid allowed for tests.
func (s *server) peerAllowed(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false
	}
	if cred.Pid == 0 || (s.allowPid != 0 && int(cred.Pid) == s.allowPid) {
		return true
	}
	logf("refused a peer with pid %d (uid %d): peers inside the container are not allowed", cred.Pid, cred.Uid)
	return false
}

// serve runs one host connection: handshake, then requests until it ends.
func (s *server) serve(c *net.UnixConn) {
	defer c.Close()
	if !s.peerAllowed(c) {
		return
	}
	var wmu sync.Mutex
	send := func(m *agent.Message) error {
		wmu.Lock()
		defer wmu.Unlock()
		return agent.WriteMessage(c, m)
	}
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	m, fds, err := agent.ReadMessage(c, 0)
	if err != nil {
		return
	}
	closeFDs(fds)
	if m.Type != agent.TypeHello {
		send(&agent.Message{Type: agent.TypeError, Version: agent.ProtocolVersion, Message: fmt.Sprintf("expected a hello frame, got %q", m.Type)})
		return
	}
	if m.Version != agent.ProtocolVersion {
		send(&agent.Message{Type: agent.TypeError, Version: agent.ProtocolVersion,
			Message: fmt.Sprintf("protocol version %d is not supported; this agent speaks %d", m.Version, agent.ProtocolVersion)})
		return
	}
	if err := send(&agent.Message{Type: agent.TypeHello, Version: agent.ProtocolVersion}); err != nil {
		return
	}
	c.SetDeadline(time.Time{})

	var cur *command          // the connection's current command
	var curReported chan bool // closed once cur's exit frame was sent
	defer func() {
		// The host went away before the command ended: kill its tree.
		if cur != nil {
			cur.signal(syscall.SIGKILL)
		}
	}()
	connDone := make(chan struct{})
	defer close(connDone)
	for {
		m, fds, err := agent.ReadMessage(c, 3+agent.MaxExtraFiles)
		if err != nil {
			if errors.Is(err, agent.ErrProtocol) {
				send(&agent.Message{Type: agent.TypeError, Message: err.Error()})
			}
			return
		}
		switch m.Type {
		case agent.TypeExec:
			if cur != nil {
				select {
				case <-curReported:
				default:
					closeFDs(fds)
					send(&agent.Message{Type: agent.TypeError, Message: "a command is already running on this connection"})
					continue
				}
			}
			if want := 3 + extraFiles(m.Exec); len(fds) != want {
				closeFDs(fds)
				send(&agent.Message{Type: agent.TypeError, Message: fmt.Sprintf("exec needs 3 file descriptors (stdin, stdout, stderr) and %d extra, got %d", want-3, len(fds))})
				continue
			}
			cmd, pid, err := s.start(m.Exec, fds)
			if err != nil {
				send(&agent.Message{Type: agent.TypeError, Message: err.Error()})
				continue
			}
			if err := send(&agent.Message{Type: agent.TypeStarted, Pid: pid}); err != nil {
				cmd.signal(syscall.SIGKILL)
			}
			cur, curReported = cmd, make(chan bool)
			go s.reportExit(c, &wmu, cmd, curReported)
		case agent.TypeSignal:
			closeFDs(fds)
			if m.Signal < 1 || m.Signal > 64 {
				send(&agent.Message{Type: agent.TypeError, Message: fmt.Sprintf("signal %d: want 1..64", m.Signal)})
				continue
			}
			if cur != nil {
				cur.signal(syscall.Signal(m.Signal))
			}
		case agent.TypeDetach, agent.TypeJobs, agent.TypeJobWait, agent.TypeJobSignal, agent.TypeFile:
			s.serveV2(m, fds, send, connDone)
		default:
			closeFDs(fds)
			send(&agent.Message{Type: agent.TypeError, Message: fmt.Sprintf("unknown request type %q", m.Type)})
		}
	}
}

// reportExit waits for cmd's spawner to be reaped, sends the exit frame and
// marks the command finished.
func (s *server) reportExit(c *net.UnixConn, wmu *sync.Mutex, cmd *command, reported chan bool) {
	<-cmd.done
	code := cmd.code
	wmu.Lock()
	// Mark it reported before the frame leaves: the host may send its next
	// exec the moment it reads the exit (the answer queues behind wmu).
	close(reported)
	c.SetWriteDeadline(time.Now().Add(exitWriteTimeout))
	agent.WriteMessage(c, &agent.Message{Type: agent.TypeExit, Code: &code})
	c.SetWriteDeadline(time.Time{})
	wmu.Unlock()
	s.finished()
}

// start launches req through a spawner with fds as its stdin, stdout and
// stderr (closed here in every case). It returns the command and the pid to
// report: the command's, or the spawner's when the command could not be
// found or executed (its exit frame then carries 127 or 126).
func (s *server) start(req *agent.ExecRequest, fds []int) (*command, int, error) {
	defer closeFDs(fds)
	if err := req.Validate(); err != nil {
		return nil, 0, err
	}
	spec, err := encodeRequest(req)
	if err != nil {
		return nil, 0, err
	}
	var sp, cp [2]int
	if err := unix.Pipe2(sp[:], unix.O_CLOEXEC); err != nil {
		return nil, 0, fmt.Errorf("pipe: %w", err)
	}
	if err := unix.Pipe2(cp[:], unix.O_CLOEXEC); err != nil {
		unix.Close(sp[0])
		unix.Close(sp[1])
		return nil, 0, fmt.Errorf("pipe: %w", err)
	}
	// Read through the runtime's poller: a read blocked in the kernel
	// would hold a thread (threads.go).
	unix.SetNonblock(sp[0], true)
	statusR := os.NewFile(uintptr(sp[0]), "status")
	ctlW := os.NewFile(uintptr(cp[1]), "control")
	defer statusR.Close()

	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		unix.Close(sp[1])
		unix.Close(cp[0])
		ctlW.Close()
		return nil, 0, errors.New("the agent is shutting down")
	}
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"pocketdock-init", spawnArg}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{},
		Files: spawnerFiles(fds, sp[1], cp[0]),
	})
	if err != nil {
		s.mu.Unlock()
		unix.Close(sp[1])
		unix.Close(cp[0])
		ctlW.Close()
		return nil, 0, fmt.Errorf("start spawner: %w", err)
	}
	// The request must be the first thing on the control pipe: hold cmd.mu
	// (which signal needs) from before anyone can see cmd until it is
	// written.
	cmd := &command{spawner: pid, ctl: ctlW, done: make(chan struct{})}
	cmd.mu.Lock()
	s.cmds[pid] = cmd
	s.active++
	s.mu.Unlock()
	unix.Close(sp[1])
	unix.Close(cp[0])
	cmd.ctl.Write(spec) // a dead spawner shows up as EOF on the status pipe
	cmd.mu.Unlock()

	b, _ := io.ReadAll(io.LimitReader(statusR, maxStatus))
	var st spawnStatus
	if err := json.Unmarshal(b, &st); err != nil || (st.Pid <= 0 && st.Exit == 0 && st.Error == "") {
		st = spawnStatus{Error: "the spawner ended without a report"}
	}
	switch {
	case st.Error != "":
		cmd.signal(syscall.SIGKILL)
		go func() {
			<-cmd.done
			s.finished()
		}()
		return nil, 0, errors.New(st.Error)
	case st.Pid > 0:
		cmd.mu.Lock()
		cmd.mainPid = st.Pid
		cmd.mu.Unlock()
		return cmd, st.Pid, nil
	default:
		return cmd, pid, nil
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
