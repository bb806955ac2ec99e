package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock/runtime/agent"
)

// AgentSocket returns the agent socket of the running container rec.
// ErrContainerNotRunning when it is not running (a paused one is refused:
// requests into a frozen cgroup would hang).
func (m *Manager) AgentSocket(rec *Record) (string, error) {
	st, err := m.Status(rec)
	if err != nil {
		return "", err
	}
	if st != StatusRunning {
		return "", fmt.Errorf("%w: %s is %s", ErrContainerNotRunning, rec.Name, st)
	}
	return m.paths.SocketPath(rec.ID), nil
}

// Dial connects to the agent of the running container rec. Errors go
// through AgentErr.
func (m *Manager) Dial(ctx context.Context, rec *Record) (*agent.Conn, error) {
	sock, err := m.AgentSocket(rec)
	if err != nil {
		return nil, err
	}
	conn, err := agent.Dial(ctx, sock)
	return conn, m.execError(rec, err)
}

// AgentErr types an error of a request to rec's agent the way Exec does:
// ErrInvalidArgument for a refused request, ErrContainerNotRunning when the
// container stopped meanwhile; others unchanged.
func (m *Manager) AgentErr(rec *Record, err error) error { return m.execError(rec, err) }

// JobsDir is the folder of a container's detached-job output files
// (<run>/c/<id>/jobs): <tag>.out and <tag>.err, rings written by the agent
// through fds the host opened.
func (p Paths) JobsDir(id string) string { return filepath.Join(p.RunDir(id), "jobs") }

// JobFile is the host path of one stream ("out" or "err") of the job tagged
// tag, or of its consumed offsets ("read": the host's own), or "" when tag is not 32 lowercase hex digits (a tag comes back from
// the untrusted agent; only a valid one is ever made into a path).
func (p Paths) JobFile(id, tag, stream string) string {
	if !agent.ValidTag(tag) || (stream != "out" && stream != "err" && stream != "read") {
		return ""
	}
	return filepath.Join(p.JobsDir(id), tag+"."+stream)
}

// Detach starts req as a detached job of rec's agent with output rings of
// bufSize bytes per stream (0 = agent.DefaultJobCap). The host opens the
// ring files in the container's run directory and hands the agent write
// fds, so the agent never names a host path. It returns the job's info as
// far as known at start.
func (m *Manager) Detach(ctx context.Context, rec *Record, req agent.ExecRequest, bufSize int64) (agent.JobInfo, error) {
	if bufSize == 0 {
		bufSize = agent.DefaultJobCap
	}
	if bufSize < 1 || bufSize > agent.MaxJobCap {
		return agent.JobInfo{}, fmt.Errorf("%w: buffer size %d bytes: want 1..%d", ErrInvalidArgument, bufSize, agent.MaxJobCap)
	}
	conn, err := m.Dial(ctx, rec)
	if err != nil {
		return agent.JobInfo{}, err
	}
	defer conn.Close()
	var b [16]byte
	rand.Read(b[:])
	tag := hex.EncodeToString(b[:])
	dir := m.paths.JobsDir(rec.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return agent.JobInfo{}, err
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, s := range []string{"out", "err"} {
		f, err := os.OpenFile(m.paths.JobFile(rec.ID, tag, s), os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return agent.JobInfo{}, err
		}
		files = append(files, f)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return agent.JobInfo{}, err
	}
	files = append(files, null)
	id, pid, err := conn.Detach(req, agent.DetachRequest{Tag: tag, Cap: bufSize}, null, files[0], files[1])
	if err != nil {
		os.Remove(m.paths.JobFile(rec.ID, tag, "out"))
		os.Remove(m.paths.JobFile(rec.ID, tag, "err"))
		return agent.JobInfo{}, m.execError(rec, err)
	}
	if jobs, err := conn.Jobs(); err == nil {
		m.pruneJobFiles(rec.ID, jobs)
	}
	return agent.JobInfo{ID: id, Tag: tag, Pid: pid, Running: true, Cap: bufSize, Started: time.Now().UnixMilli()}, nil
}

// pruneJobFiles removes the output files of jobs the agent no longer lists
// (it keeps the last 256 ended ones). Files younger than a minute stay: they
// may belong to a detach of another process that the agent has not
// registered yet.
func (m *Manager) pruneJobFiles(id string, jobs []agent.JobInfo) {
	live := map[string]bool{}
	for _, j := range jobs {
		live[j.Tag] = true
	}
	dir := m.paths.JobsDir(id)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		tag, _, ok := strings.Cut(e.Name(), ".")
		if !ok || !agent.ValidTag(tag) || live[tag] {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Minute {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Jobs lists rec's detached jobs (running, and the last 256 ended).
func (m *Manager) Jobs(ctx context.Context, rec *Record) ([]agent.JobInfo, error) {
	conn, err := m.Dial(ctx, rec)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	jobs, err := conn.Jobs()
	return jobs, m.execError(rec, err)
}

// ReadRing returns bytes [from, total) of a job's stream from its ring file
// (see agent.JobInfo): from is raised to total-cap (older bytes are gone)
// and the file is read at most cap bytes, whatever the agent claimed.
// after is the stream's total measured again after the read: bytes the
// agent overwrote meanwhile are dropped from the front.
func ReadRing(path string, from, total, after, cap int64) ([]byte, int64, error) {
	if path == "" || cap <= 0 || total < 0 {
		return nil, from, fmt.Errorf("%w: bad ring parameters", ErrInvalidArgument)
	}
	if after < total {
		after = total
	}
	if low := after - cap; from < low {
		from = low
	}
	if from < 0 {
		from = 0
	}
	if from >= total {
		return nil, from, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, from, err
	}
	defer f.Close()
	n := total - from
	out := make([]byte, n)
	off := from % cap
	first := n
	if first > cap-off {
		first = cap - off
	}
	if _, err := f.ReadAt(out[:first], off); err != nil && err != io.EOF {
		return nil, from, err
	}
	if first < n {
		if _, err := f.ReadAt(out[first:], 0); err != nil && err != io.EOF {
			return nil, from, err
		}
	}
	return out, from, nil
}

// startImageCmd starts the image's ENTRYPOINT and CMD, when it has any, as
// detached job 1 (DESIGN.md: PID 1 stays the agent).
func (m *Manager) startImageCmd(ctx context.Context, rec *Record) error {
	argv := append(append([]string{}, rec.Entrypoint...), rec.Cmd...)
	if len(argv) == 0 || argv[0] == "" {
		return nil
	}
	p := rec.Process
	req := agent.ExecRequest{Argv: argv, Env: p.Env, Cwd: p.Cwd, UID: p.UID, GID: p.GID, Groups: p.Groups}
	if _, err := m.Detach(ctx, rec, req, 0); err != nil {
		return fmt.Errorf("start the image's command %q: %w", argv, err)
	}
	return nil
}
