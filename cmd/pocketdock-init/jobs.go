package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pocketdock/pocketdock/runtime/agent"
	"golang.org/x/sys/unix"
)

// extraFiles is the number of extra fds an exec request announces (0 for a
// missing request, which start refuses anyway).
func extraFiles(r *agent.ExecRequest) int {
	if r == nil || r.ExtraFiles < 0 || r.ExtraFiles > agent.MaxExtraFiles {
		return 0
	}
	return r.ExtraFiles
}

// spawnerFiles are the spawner's fds: the command's stdin, stdout, stderr,
// the status and control pipes (3, 4), then the extra fds (5, ...).
func spawnerFiles(fds []int, status, control int) []uintptr {
	out := []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2]), uintptr(status), uintptr(control)}
	for _, fd := range fds[3:] {
		out = append(out, uintptr(fd))
	}
	return out
}

// commandFiles maps the spawner's fds to the command's: 0, 1, 2 and the
// extras (spawner fds 5, ...) as 3, ...
func commandFiles(extra int) []uintptr {
	out := []uintptr{0, 1, 2}
	for i := 0; i < extra && i < agent.MaxExtraFiles; i++ {
		out = append(out, uintptr(5+i))
	}
	return out
}

// ring keeps the last cap bytes written to a stream in a file: byte i of the
// stream at offset i%cap.
type ring struct {
	f   *os.File
	cap int64

	mu    sync.Mutex
	total int64
}

func (r *ring) write(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if int64(len(p)) > r.cap {
		r.total += int64(len(p)) - r.cap
		p = p[int64(len(p))-r.cap:]
	}
	for len(p) > 0 {
		off := r.total % r.cap
		n := int64(len(p))
		if n > r.cap-off {
			n = r.cap - off
		}
		r.f.WriteAt(p[:n], off)
		r.total += n
		p = p[n:]
	}
}

func (r *ring) count() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// pump copies a job's output pipe into its ring until EOF.
func (r *ring) pump(src *os.File, done *sync.WaitGroup) {
	defer done.Done()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// job is one detached job.
type job struct {
	id       int
	tag      string
	cmdline  string
	pid      int
	started  int64
	cmd      *command
	out, err *ring
	done     chan struct{} // closed when the main process ended

	mu    sync.Mutex
	ended int64
	code  *int
}

func (j *job) info() agent.JobInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	in := agent.JobInfo{ID: j.id, Tag: j.tag, Cmd: j.cmdline, Pid: j.pid, Running: j.code == nil,
		Started: j.started, Ended: j.ended, Cap: j.out.cap,
		StdoutTotal: j.out.count(), StderrTotal: j.err.count()}
	if j.code != nil {
		c := *j.code
		in.ExitCode = &c
	}
	return in
}

// jobTable holds the running jobs and the last KeptExitStatuses ended ones.
type jobTable struct {
	mu    sync.Mutex
	next  int
	jobs  map[int]*job
	ended []int // ids in the order they ended
}

func (t *jobTable) get(id int) *job {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.jobs[id]
}

func (t *jobTable) list() []agent.JobInfo {
	t.mu.Lock()
	jobs := make([]*job, 0, len(t.jobs))
	for _, j := range t.jobs {
		jobs = append(jobs, j)
	}
	t.mu.Unlock()
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].id < jobs[b].id })
	out := make([]agent.JobInfo, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.info())
	}
	return out
}

// detach starts a detached job: fds are its stdin and the host's files for
// its stdout and stderr rings (all closed here in every case).
func (s *server) detach(m *agent.Message, fds []int) (*job, error) {
	if len(fds) != 3 {
		closeFDs(fds)
		return nil, fmt.Errorf("detach needs 3 file descriptors (stdin, stdout file, stderr file), got %d", len(fds))
	}
	if err := m.Detach.Validate(); err != nil {
		closeFDs(fds)
		return nil, err
	}
	if m.Exec == nil || m.Exec.ExtraFiles != 0 || m.Exec.Tty {
		closeFDs(fds)
		return nil, errors.New("detach: an exec request without extra files or tty is required")
	}
	var op, ep [2]int
	if err := unix.Pipe2(op[:], unix.O_CLOEXEC); err != nil {
		closeFDs(fds)
		return nil, err
	}
	if err := unix.Pipe2(ep[:], unix.O_CLOEXEC); err != nil {
		closeFDs(fds)
		closeFDs(op[:])
		return nil, err
	}
	outFile, errFile := os.NewFile(uintptr(fds[1]), "stdout"), os.NewFile(uintptr(fds[2]), "stderr")
	cmd, pid, err := s.start(m.Exec, []int{fds[0], op[1], ep[1]})
	if err != nil {
		outFile.Close()
		errFile.Close()
		unix.Close(op[0])
		unix.Close(ep[0])
		return nil, err
	}
	cl := strings.Join(m.Exec.Argv, " ")
	if len(cl) > agent.MaxJobCmd {
		cl = cl[:agent.MaxJobCmd]
	}
	j := &job{tag: m.Detach.Tag, cmdline: cl, pid: pid, started: time.Now().UnixMilli(), cmd: cmd,
		out: &ring{f: outFile, cap: m.Detach.Cap}, err: &ring{f: errFile, cap: m.Detach.Cap},
		done: make(chan struct{})}
	t := &s.jobs
	t.mu.Lock()
	if t.jobs == nil {
		t.jobs = make(map[int]*job)
	}
	t.next++
	j.id = t.next
	t.jobs[j.id] = j
	t.mu.Unlock()

	var pumps sync.WaitGroup
	pumps.Add(2)
	go j.out.pump(os.NewFile(uintptr(op[0]), "stdout pipe"), &pumps)
	go j.err.pump(os.NewFile(uintptr(ep[0]), "stderr pipe"), &pumps)
	go func() {
		pumps.Wait()
		outFile.Close()
		errFile.Close()
	}()
	go func() {
		<-cmd.done
		code := cmd.code
		j.mu.Lock()
		j.code = &code
		j.ended = time.Now().UnixMilli()
		j.mu.Unlock()
		close(j.done)
		t.mu.Lock()
		t.ended = append(t.ended, j.id)
		for len(t.ended) > agent.KeptExitStatuses {
			delete(t.jobs, t.ended[0])
			t.ended = t.ended[1:]
		}
		t.mu.Unlock()
		s.finished()
	}()
	return j, nil
}

// serveV2 answers the requests added in protocol version 2.
func (s *server) serveV2(m *agent.Message, fds []int, send func(*agent.Message) error, connDone <-chan struct{}) {
	fail := func(err error) {
		msg := &agent.Message{Type: agent.TypeError, Message: err.Error()}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			msg.Errno = int(errno)
		}
		send(msg)
	}
	switch m.Type {
	case agent.TypeDetach:
		j, err := s.detach(m, fds)
		if err != nil {
			fail(err)
			return
		}
		send(&agent.Message{Type: agent.TypeStarted, Pid: j.pid, Job: j.id})
	case agent.TypeJobs:
		closeFDs(fds)
		send(&agent.Message{Type: agent.TypeJobs, Jobs: s.jobs.list()})
	case agent.TypeJobWait:
		closeFDs(fds)
		j := s.jobs.get(m.Job)
		if j == nil {
			fail(fmt.Errorf("no job %d", m.Job))
			return
		}
		go func() {
			select {
			case <-j.done:
				send(&agent.Message{Type: agent.TypeJobs, Jobs: []agent.JobInfo{j.info()}})
			case <-connDone:
			}
		}()
	case agent.TypeJobSignal:
		closeFDs(fds)
		j := s.jobs.get(m.Job)
		if j == nil {
			fail(fmt.Errorf("no job %d", m.Job))
			return
		}
		if m.Signal < 1 || m.Signal > 64 {
			fail(fmt.Errorf("signal %d: want 1..64", m.Signal))
			return
		}
		j.cmd.signal(syscall.Signal(m.Signal))
		send(&agent.Message{Type: agent.TypeOK})
	case agent.TypeFile:
		if len(fds) != 1 {
			closeFDs(fds)
			fail(fmt.Errorf("file needs 1 file descriptor, got %d", len(fds)))
			return
		}
		if err := fileOp(m.File, os.NewFile(uintptr(fds[0]), "file pipe")); err != nil {
			fail(err)
			return
		}
		send(&agent.Message{Type: agent.TypeOK})
	}
}
