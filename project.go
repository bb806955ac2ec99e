package pocketdock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/kballard/go-shellquote"

	"github.com/pocketdock/pocketdock/project"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// ProjectConfig is a project's config, <root>/.pocketdock/pocketdock.yaml
// (API.md, Projects): project_name, default_profile, default_persist,
// auto_log, max_log_size, max_logs_per_instance, retention_days, log_level.
// See project.Config for each field's default.
type ProjectConfig = project.Config

// HistoryEntry is one run in an instance's history.jsonl: time (RFC 3339
// with nanoseconds), command, exit_code (-1 on timeout), duration_ms (a
// float) and timed_out.
type HistoryEntry = project.HistoryEntry

// LogFile is one file of an instance's logs/ folder (session and
// detached-job output).
type LogFile = project.LogFile

// projectErr wraps a project package error: a bad config value or
// argument also matches ErrInvalidArgument.
func projectErr(op string, err error) error {
	if errors.Is(err, project.ErrInvalidConfig) {
		return fmt.Errorf("%s: %w: %w", op, ErrInvalidArgument, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// InitProject makes path ("" = the working directory) a pocketdock
// project: it writes path/.pocketdock/pocketdock.yaml with the defaults and
// project name name ("" = the folder's name, made valid) and the
// instances/ folder, and returns the project root (absolute). Running it
// again is harmless, like `git init`: the existing config is kept.
// Errors: ErrInvalidArgument (a bad name, a name other than the existing
// project's, or an existing config with a bad value — each named).
func InitProject(path, name string) (string, error) {
	res, err := project.Init(path, name)
	if err != nil {
		return "", projectErr("init project", err)
	}
	return res.Root, nil
}

// FindProjectRoot walks up from start ("" = the working directory) to the
// nearest folder holding .pocketdock/pocketdock.yaml and returns it.
// ErrProjectNotInitialized when there is none.
func FindProjectRoot(start string) (string, error) {
	root, err := project.FindRoot(start)
	if err != nil {
		return "", projectErr("find project", err)
	}
	return root, nil
}

// LoadProjectConfig reads and validates the config of project root root.
// Errors: ErrProjectNotInitialized (no config), ErrInvalidArgument (a bad
// value, named with what is allowed).
func LoadProjectConfig(root string) (ProjectConfig, error) {
	cfg, err := project.Load(root)
	if err != nil {
		return cfg, projectErr("project config", err)
	}
	return cfg, nil
}

// joinProject applies the project of the working directory to opts
// (API.md precedence: explicit options > environment > project config >
// defaults). With opts.Project empty, a create inside a project joins it:
// Project becomes the project's name, Persist the config's
// default_persist when false, and Profile the config's default_profile
// when neither Image nor Profile is given. An explicit opts.Project joins
// the working directory's project only when the names match; otherwise
// the container carries the name but has no instance directory. It
// returns the project root ("" = no instance directory).
func joinProject(opts *Options) (string, error) {
	if opts.Project != "" && !project.ValidName(opts.Project) {
		return "", fmt.Errorf("create: %w: project name %q: want 1 to 63 characters of [a-zA-Z0-9_.-], starting with a letter or digit", ErrInvalidArgument, opts.Project)
	}
	root, err := project.FindRoot("")
	if errors.Is(err, project.ErrNotInitialized) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("create: find project: %w", err)
	}
	cfg, err := project.Load(root)
	if err != nil {
		return "", projectErr("create: project config", err)
	}
	if opts.Project != "" && opts.Project != cfg.ProjectName {
		return "", nil
	}
	opts.Project = cfg.ProjectName
	if !opts.Persist && cfg.DefaultPersist {
		opts.Persist = true
	}
	if opts.Image == "" && opts.Profile == "" && cfg.DefaultProfile != "" {
		if _, err := ResolveProfile(cfg.DefaultProfile); err != nil {
			return "", fmt.Errorf("create: project config %s: default_profile: %w", project.ConfigPath(root), err)
		}
		opts.Profile = cfg.DefaultProfile
	}
	return root, nil
}

// makeInstance writes the instance directory of a container that joined
// the project at root; on failure the container is destroyed, so a failed
// create leaves nothing behind.
func (c *Container) makeInstance(ctx context.Context, root, profile string) error {
	if root == "" {
		return nil
	}
	r := c.rec
	in := project.Instance{ID: r.ID, Name: r.Name, Image: r.Image, Created: r.CreatedAt, Persist: r.Persist,
		Profile: profile, Project: r.Project, StateRoot: c.m.Paths().ID()}
	if _, err := project.WriteInstance(root, in); err != nil {
		if derr := c.m.Remove(context.WithoutCancel(ctx), c.rec, true, 0); derr != nil {
			slog.Warn("rollback of create after its instance directory failed", "container", r.Name, "error", derr)
		}
		return projectErr("create: instance directory", err)
	}
	return nil
}

// removeInstance removes the container's instance directory (Destroy,
// Shutdown without Persist, Prune).
func removeInstance(rec *pdrt.Record) {
	if rec.ProjectRoot == "" {
		return
	}
	if err := project.RemoveInstance(rec.ProjectRoot, rec.Name); err != nil {
		slog.Warn("remove instance directory", "container", rec.Name, "error", err)
	}
}

// projectRecords returns the records of containers that joined a project.
func projectRecords(m *pdrt.Manager) []*pdrt.Record {
	recs, err := m.List()
	if err != nil {
		return nil
	}
	var out []*pdrt.Record
	for _, r := range recs {
		if r.ProjectRoot != "" {
			out = append(out, r)
		}
	}
	return out
}

// dropGoneInstances removes the instance directories of recs whose
// container no longer exists (after Prune).
func dropGoneInstances(m *pdrt.Manager, recs []*pdrt.Record) {
	for _, r := range recs {
		if _, err := m.Get(r.ID); errors.Is(err, ErrContainerNotFound) {
			removeInstance(r)
		}
	}
}

// runCommandText is the history's command text of argv: the shell text of
// a Run, the shell-quoted argv of anything else.
func runCommandText(argv []string) string {
	if len(argv) == 3 && argv[0] == "/bin/sh" && argv[1] == "-c" {
		return argv[2]
	}
	return shellquote.Join(argv...)
}

// recordRun appends a run to the container's history.jsonl (projects
// only). A failure is logged, never returned: the run itself happened.
func (c *Container) recordRun(argv []string, r ExecResult) {
	if c.rec.ProjectRoot == "" {
		return
	}
	e := HistoryEntry{Time: time.Now().Add(-r.Duration), Command: runCommandText(argv), ExitCode: r.ExitCode,
		DurationMS: float64(r.Duration.Microseconds()) / 1000, TimedOut: r.TimedOut}
	if err := project.AppendHistory(c.rec.ProjectRoot, c.rec.Name, e); err != nil {
		slog.Debug("append history", "container", c.rec.Name, "error", err)
	}
}

// History returns the last limit runs (limit <= 0: all) of the container's
// instance history, oldest first. ErrProjectNotInitialized when the
// container belongs to no project directory.
func (c *Container) History(limit int) ([]HistoryEntry, error) {
	if c.rec.ProjectRoot == "" {
		return nil, fmt.Errorf("history of %s: %w: the container has no instance directory", c.rec.Name, ErrProjectNotInitialized)
	}
	h, err := project.ReadHistory(c.rec.ProjectRoot, c.rec.Name, limit)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", c.rec.Name, err)
	}
	return h, nil
}

// ProjectHistory returns the last limit runs (limit <= 0: all) of every
// instance of the project at root, oldest first, each with its Instance
// name. An instance directory whose container is gone still counts.
func ProjectHistory(root string, limit int) ([]HistoryEntry, error) {
	h, err := project.ReadProjectHistory(root, limit)
	if err != nil {
		return nil, fmt.Errorf("project history: %w", err)
	}
	return h, nil
}

// InstanceHistory returns the last limit runs (limit <= 0: all) of
// instance name of the project at root, also when its container is gone.
// ErrContainerNotFound when the project has no such instance directory.
func InstanceHistory(root, name string, limit int) ([]HistoryEntry, error) {
	if !project.ValidName(name) {
		return nil, fmt.Errorf("history: %w: instance name %q: want a container name", ErrInvalidArgument, name)
	}
	dir := project.InstanceDir(root, name)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("history: %w: no instance %q in project %s", ErrContainerNotFound, name, root)
	}
	h, err := project.ReadHistory(root, name, limit)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", name, err)
	}
	return h, nil
}

// InstanceLogs lists the log files of instance name of the project at
// root, oldest first. ErrContainerNotFound when there is no such instance.
func InstanceLogs(root, name string) ([]LogFile, error) {
	if !project.ValidName(name) {
		return nil, fmt.Errorf("logs: %w: instance name %q: want a container name", ErrInvalidArgument, name)
	}
	dir := project.InstanceDir(root, name)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("logs: %w: no instance %q in project %s", ErrContainerNotFound, name, root)
	}
	return project.ListLogs(root, name)
}

// ProjectInstances lists the names of the instance directories of the
// project at root (.pocketdock/instances/*), sorted; also those whose
// container is gone.
func ProjectInstances(root string) ([]string, error) {
	list, err := project.ListInstances(root)
	if err != nil {
		return nil, fmt.Errorf("project instances: %w", err)
	}
	names := make([]string, 0, len(list))
	for _, in := range list {
		names = append(names, in.Name)
	}
	return names, nil
}

// ReadInstanceLog returns log file file (a LogFile's Name) of instance
// name of the project at root. Paths resolve inside the project root: a
// symbolic link out of it is an error.
func ReadInstanceLog(root, name, file string) ([]byte, error) {
	b, err := project.ReadLog(root, name, file)
	if err != nil {
		return nil, projectErr("read log", err)
	}
	return b, nil
}

// ProjectContainer is one container of a project (ProjectStatus).
type ProjectContainer struct {
	ContainerSummary
	// DataPath is its instance directory ("" when it has none, e.g. an
	// explicit Options.Project created outside the project folder).
	DataPath string
	// Runs counts the lines of its history.
	Runs int
	// LastRun is the latest run, nil before the first.
	LastRun *HistoryEntry
}

// ProjectStatusReport is what ProjectStatus found.
type ProjectStatusReport struct {
	// Name and Root are the project's name and root folder.
	Name, Root string
	// Config is the project's config.
	Config ProjectConfig
	// Containers are the project's containers in the state root, oldest
	// first, with live status.
	Containers []ProjectContainer
}

// ProjectStatus describes the project found from start ("" = the working
// directory; FindProjectRoot) and its containers in state root stateRoot
// ("" = $POCKETDOCK_ROOT or the default): those created in it and those
// that name it in Options.Project. Errors: ErrProjectNotInitialized,
// ErrInvalidArgument (bad config).
func ProjectStatus(ctx context.Context, stateRoot, start string) (ProjectStatusReport, error) {
	root, err := FindProjectRoot(start)
	if err != nil {
		return ProjectStatusReport{}, err
	}
	cfg, err := LoadProjectConfig(root)
	if err != nil {
		return ProjectStatusReport{}, err
	}
	rep := ProjectStatusReport{Name: cfg.ProjectName, Root: root, Config: cfg, Containers: []ProjectContainer{}}
	m, err := manager(stateRoot)
	if err != nil {
		return rep, err
	}
	recs, err := m.List()
	if err != nil {
		return rep, err
	}
	for _, r := range recs {
		if !(samePath(r.ProjectRoot, root) || (r.ProjectRoot == "" && r.Project == cfg.ProjectName)) {
			continue
		}
		st, err := m.Status(r)
		if err != nil {
			st = "unknown"
		}
		if r.State == pdrt.RecordCreating {
			st = pdrt.RecordCreating
		}
		pc := ProjectContainer{ContainerSummary: ContainerSummary{ID: r.ID, Name: r.Name, Image: r.Image, Status: st,
			Project: r.Project, CreatedAt: r.CreatedAt, Persist: r.Persist}}
		if r.ProjectRoot != "" {
			pc.DataPath = project.InstanceDir(r.ProjectRoot, r.Name)
			if h, err := project.ReadHistory(r.ProjectRoot, r.Name, 0); err == nil {
				pc.Runs = len(h)
				if len(h) > 0 {
					pc.LastRun = &h[len(h)-1]
				}
			}
		}
		rep.Containers = append(rep.Containers, pc)
	}
	return rep, nil
}

// samePath compares two absolute folder paths after cleaning.
func samePath(a, b string) bool {
	return a != "" && b != "" && filepath.Clean(a) == filepath.Clean(b)
}
