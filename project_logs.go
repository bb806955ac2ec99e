package pocketdock

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pocketdock/pocketdock/project"
)

// autoLog returns the container's project root and log limits when its
// project logs output (auto_log) and its instance directory is there, else "".
func (c *Container) autoLog() (string, project.LogLimits) {
	root := c.rec.ProjectRoot
	if root == "" {
		return "", project.LogLimits{}
	}
	if _, err := project.ReadInstance(root, c.rec.Name); err != nil {
		return "", project.LogLimits{} // instance directory gone (doctor reports it)
	}
	cfg, err := project.Load(root)
	if err != nil || !cfg.AutoLog {
		return "", project.LogLimits{}
	}
	return root, cfg.Limits()
}

// jobLogName is the log file of detached job j: job-<id>-<first 8 of its tag>.log.
func jobLogName(j JobInfo) string {
	tag := j.tag
	if len(tag) > 8 {
		tag = tag[:8]
	}
	return fmt.Sprintf("job-%d-%s.log", j.ID, tag)
}

// SaveLogs writes the output the agent keeps of each detached job (the
// last BufferSize bytes per stream) to the container's instance logs/,
// one file per job (job-<id>-<tag>.log: a header with the command, times
// and exit code, then stdout and stderr), within the project's
// max_log_size, max_logs_per_instance and retention_days. A job that ended
// and was saved after its end is not written again. With auto_log on,
// pocketdock calls it when a job is waited for and before the container
// stops or reboots (the agent's buffers do not survive either). A
// container without an instance directory, or a project with auto_log
// off, saves nothing.
func (c *Container) SaveLogs(ctx context.Context) error {
	root, lim := c.autoLog()
	if root == "" {
		return nil
	}
	jobs, err := c.Jobs(ctx)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := c.saveJobLog(root, lim, j); err != nil {
			return fmt.Errorf("save logs of %s: %w", c.rec.Name, err)
		}
	}
	return nil
}

func (c *Container) saveJobLog(root string, lim project.LogLimits, j JobInfo) error {
	name := jobLogName(j)
	if !j.Running {
		if fi, err := project.StatLog(root, c.rec.Name, name); err == nil && !fi.ModTime().Before(j.EndedAt) {
			return nil // saved after it ended: complete
		}
	}
	out, err := c.JobOutput(j, 0, 0)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# job %d: %s\n# started %s", j.ID, j.Command, j.StartedAt.UTC().Format(time.RFC3339Nano))
	if j.Running {
		fmt.Fprintf(&b, ", still running when saved at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	} else {
		fmt.Fprintf(&b, ", ended %s, exit code %d\n", j.EndedAt.UTC().Format(time.RFC3339Nano), j.ExitCode)
	}
	fmt.Fprintf(&b, "# --- stdout (%d bytes written) ---\n%s", j.StdoutBytes, out.Stdout)
	if out.Stdout != "" && !strings.HasSuffix(out.Stdout, "\n") {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "# --- stderr (%d bytes written) ---\n%s", j.StderrBytes, out.Stderr)
	return project.WriteLog(root, c.rec.Name, name, []byte(b.String()), lim)
}

// saveJobLogs is SaveLogs for the hooks (stop, reboot, wait): a failure
// is logged, never returned.
func (c *Container) saveJobLogs(ctx context.Context) {
	if c.rec.ProjectRoot == "" {
		return
	}
	if err := c.SaveLogs(ctx); err != nil {
		slog.Debug("save job logs", "container", c.rec.Name, "error", err)
	}
}

// saveLog saves one ended job's output (Process.Wait).
func (p *Process) saveLog(in JobInfo) {
	root, lim := p.c.autoLog()
	if root == "" {
		return
	}
	if err := p.c.saveJobLog(root, lim, in); err != nil {
		slog.Debug("save job log", "container", p.c.rec.Name, "job", in.ID, "error", err)
	}
}

// sessionLog is a session's log file (auto_log): the commands sent, their
// output and exit codes, and output nobody waited for.
type sessionLog struct {
	w *project.LogWriter
}

// startLog opens the session's log when the container's project logs
// output; it is closed when the shell ends.
func (s *Session) startLog() {
	root, lim := s.c.autoLog()
	if root == "" {
		return
	}
	w, err := project.NewLogWriter(root, s.c.rec.Name, "session", lim)
	if err != nil {
		slog.Debug("session log", "container", s.c.rec.Name, "error", err)
		return
	}
	s.log = &sessionLog{w: w}
	fmt.Fprintf(w, "# session started %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	s.OnOutput(func(_ string, data []byte) { w.Write(data) })
	go func() {
		<-s.done
		fmt.Fprintf(w, "# session ended %s\n", time.Now().UTC().Format(time.RFC3339Nano))
		w.Close()
	}()
}

// logSend notes a command given with Send.
func (s *Session) logSend(cmd string) {
	if s.log != nil {
		fmt.Fprintf(s.log.w, "$ %s\n", cmd)
	}
}

// logResult notes a SendAndWait: the command, its output, its exit code.
func (s *Session) logResult(cmd string, r *ExecResult) {
	if s.log == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "$ %s\n%s", cmd, r.Stdout)
	if r.Stdout != "" && !strings.HasSuffix(r.Stdout, "\n") {
		b.WriteByte('\n')
	}
	b.WriteString(r.Stderr)
	if r.Stderr != "" && !strings.HasSuffix(r.Stderr, "\n") {
		b.WriteByte('\n')
	}
	if r.TimedOut {
		fmt.Fprintf(&b, "# timed out after %s\n", r.Duration.Round(time.Millisecond))
	} else {
		fmt.Fprintf(&b, "# exit %d (%s)\n", r.ExitCode, r.Duration.Round(time.Millisecond))
	}
	s.log.w.Write([]byte(b.String()))
}
