package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

func newInitCmd(g *globals) *cobra.Command {
	var name string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "init [PATH]",
		Short: "Make a folder a pocketdock project (.pocketdock/pocketdock.yaml)",
		Long: "Write PATH/.pocketdock/pocketdock.yaml (default: the current folder) with the default settings.\n" +
			"Containers created in the folder, or below it, join the project: each gets an instance directory\n" +
			".pocketdock/instances/NAME with its metadata, command history and logs. Running init again is\n" +
			"harmless: an existing config is kept.",
		Example: "  pocketdock init\n  pocketdock init ~/work/demo --name demo",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			_, statErr := os.Stat(filepath.Join(path, ".pocketdock", "pocketdock.yaml"))
			existed := statErr == nil
			root, err := pocketdock.InitProject(path, name)
			if err != nil {
				return err
			}
			cfg, err := pocketdock.LoadProjectConfig(root)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"project_name": cfg.ProjectName, "root": root,
					"config": filepath.Join(root, ".pocketdock", "pocketdock.yaml"), "reinitialized": existed})
			}
			what := "Initialized pocketdock project"
			if existed {
				what = "Reinitialized existing pocketdock project"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s in %s\n", what, cfg.ProjectName, filepath.Join(root, ".pocketdock")+"/")
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "project name (default: the folder's name)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// historyJSON is a history entry with the reference's field names.
type historyJSON struct {
	Time       time.Time `json:"time"`
	Instance   string    `json:"instance,omitempty"`
	Command    string    `json:"command"`
	ExitCode   int       `json:"exit_code"`
	DurationMS float64   `json:"duration_ms"`
	TimedOut   bool      `json:"timed_out"`
}

func toHistoryJSON(e pocketdock.HistoryEntry) historyJSON {
	return historyJSON{Time: e.Time, Instance: e.Instance, Command: e.Command, ExitCode: e.ExitCode, DurationMS: e.DurationMS, TimedOut: e.TimedOut}
}

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [PATH]",
		Short: "Show the project of this folder and its containers",
		Long: "Find the project of PATH (default: the current folder; the nearest .pocketdock/ above it) and\n" +
			"list its containers with their live status and command history counts.",
		Example: "  pocketdock status\n  pocketdock status --json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := ""
			if len(args) == 1 {
				start = args[0]
			}
			st, err := pocketdock.ProjectStatus(cmd.Context(), g.root, start)
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					containerJSON
					DataPath string       `json:"data_path"`
					Runs     int          `json:"runs"`
					LastRun  *historyJSON `json:"last_run"`
				}
				rows := []row{}
				for _, c := range st.Containers {
					r := row{containerJSON: toContainerJSON(c.ContainerSummary), DataPath: c.DataPath, Runs: c.Runs}
					if c.LastRun != nil {
						h := toHistoryJSON(*c.LastRun)
						r.LastRun = &h
					}
					rows = append(rows, r)
				}
				return writeJSON(cmd.OutOrStdout(), map[string]any{"project_name": st.Name, "root": st.Root,
					"config": st.Config, "containers": rows})
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Project: %s\nRoot:    %s\n", st.Name, st.Root)
			c := st.Config
			profile := c.DefaultProfile
			if profile == "" {
				profile = "-"
			}
			fmt.Fprintf(out, "Config:  default_profile=%s default_persist=%v auto_log=%v max_log_size=%s max_logs_per_instance=%d retention_days=%d log_level=%s\n\n",
				profile, c.DefaultPersist, c.AutoLog, c.MaxLogSize, c.MaxLogsPerInstance, c.RetentionDays, c.LogLevel)
			if len(st.Containers) == 0 {
				fmt.Fprintln(out, "No containers yet: pocketdock create --name NAME (in this folder) joins the project.")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tIMAGE\tRUNS\tLAST RUN")
			for _, c := range st.Containers {
				last := "-"
				if c.LastRun != nil {
					last = fmt.Sprintf("exit %d, %s", c.LastRun.ExitCode, ago(c.LastRun.Time))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", c.Name, c.Status, c.Image, c.Runs, last)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// extendLogsCmd adds the project forms to `logs`: NAME may be left out
// inside a project (the project's logs), --history shows the command
// history, --limit keeps the last N entries or files, --json prints JSON.
// `logs NAME` without them still shows the container's detached-job output.
func extendLogsCmd(root *cobra.Command, g *globals) {
	for _, cmd := range root.Commands() {
		if cmd.Name() != "logs" {
			continue
		}
		jobLogs := cmd.RunE
		var history, asJSON bool
		var limit int
		cmd.Use = "logs [NAME]"
		cmd.Short = "Show a container's detached-job output, or a project's logs; --history: the commands run"
		cmd.Long = "logs NAME shows the output of a container's detached jobs (the agent keeps the last 1 MiB per stream).\n" +
			"Inside a project, logs without NAME shows the project's log files (session and detached-job output\n" +
			"saved under .pocketdock/instances/*/logs/). --history shows the command history instead: time,\n" +
			"exit code, duration and command of each run (history.jsonl), of NAME or of the whole project."
		cmd.Example = "  pocketdock logs web\n  pocketdock logs web --history --limit 20\n  pocketdock logs --history --follow\n  pocketdock logs --json"
		cmd.Args = cobra.MaximumNArgs(1)
		cmd.Flags().BoolVar(&history, "history", false, "show the command history (history.jsonl) instead of output")
		cmd.Flags().IntVar(&limit, "limit", 0, "only the last N history entries or log files (0 = all)")
		cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (with --follow: one JSON document per line)")
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if limit < 0 {
				return fmt.Errorf("%w: --limit %d: want 0 (all) or more", pocketdock.ErrInvalidArgument, limit)
			}
			follow, _ := c.Flags().GetBool("follow")
			lo := logsOptions{g: g, limit: limit, follow: follow, asJSON: asJSON}
			switch {
			case history:
				return lo.history(c, args)
			case len(args) == 0:
				return lo.projectLogs(c)
			case asJSON:
				return lo.jobsJSON(c, args[0])
			default:
				return jobLogs(c, args)
			}
		}
	}
}

type logsOptions struct {
	g      *globals
	limit  int
	follow bool
	asJSON bool
}

// history prints the history of NAME (a container, or an instance
// directory of the current project whose container is gone) or of the
// current project.
func (lo logsOptions) history(cmd *cobra.Command, args []string) error {
	ctx := cmd.Context()
	var fetch func(limit int) ([]pocketdock.HistoryEntry, error)
	if len(args) == 1 {
		name := args[0]
		c, err := pocketdock.GetContainerIn(ctx, lo.g.root, name)
		switch {
		case err == nil && c.DataPath() != "":
			fetch = c.History
		case err == nil || errors.Is(err, pocketdock.ErrContainerNotFound):
			root, perr := pocketdock.FindProjectRoot("")
			if perr != nil {
				if err != nil {
					return err
				}
				return fmt.Errorf("history of %s: %w: the container has no instance directory", name, pocketdock.ErrProjectNotInitialized)
			}
			fetch = func(limit int) ([]pocketdock.HistoryEntry, error) {
				return pocketdock.InstanceHistory(root, name, limit)
			}
		default:
			return err
		}
	} else {
		root, err := pocketdock.FindProjectRoot("")
		if err != nil {
			return err
		}
		fetch = func(limit int) ([]pocketdock.HistoryEntry, error) { return pocketdock.ProjectHistory(root, limit) }
	}
	entries, err := fetch(lo.limit)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if !lo.follow {
		if lo.asJSON {
			rows := make([]historyJSON, 0, len(entries))
			for _, e := range entries {
				rows = append(rows, toHistoryJSON(e))
			}
			return writeJSON(out, rows)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, historyHeader(len(args) == 0))
		for _, e := range entries {
			fmt.Fprintln(tw, historyRow(e, len(args) == 0))
		}
		return tw.Flush()
	}
	// Follow: print what is there, then every new entry as it is appended.
	// Entries are keyed by instance, time and command, so merging the
	// instances' files by time never prints one twice.
	seen := map[string]bool{}
	key := func(e pocketdock.HistoryEntry) string {
		return e.Instance + "\x00" + e.Time.Format(time.RFC3339Nano) + "\x00" + e.Command
	}
	emit := func(list []pocketdock.HistoryEntry) {
		for _, e := range list {
			if seen[key(e)] {
				continue
			}
			seen[key(e)] = true
			if lo.asJSON {
				writeJSONLine(out, toHistoryJSON(e))
			} else {
				fmt.Fprintln(out, strings.ReplaceAll(historyRow(e, len(args) == 0), "\t", "  "))
			}
		}
	}
	if !lo.asJSON {
		fmt.Fprintln(out, strings.ReplaceAll(historyHeader(len(args) == 0), "\t", "  "))
	}
	emit(entries)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
		list, err := fetch(0)
		if err != nil {
			if errors.Is(err, pocketdock.ErrContainerNotFound) {
				return nil // the instance was removed
			}
			return err
		}
		emit(list)
	}
}

func historyHeader(withInstance bool) string {
	if withInstance {
		return "TIME\tINSTANCE\tEXIT\tDURATION\tCOMMAND"
	}
	return "TIME\tEXIT\tDURATION\tCOMMAND"
}

func historyRow(e pocketdock.HistoryEntry, withInstance bool) string {
	exit := fmt.Sprint(e.ExitCode)
	if e.TimedOut {
		exit = "timeout"
	}
	dur := time.Duration(e.DurationMS * float64(time.Millisecond)).Round(time.Millisecond).String()
	cmdText := strings.ReplaceAll(e.Command, "\n", " ")
	t := e.Time.Local().Format("2006-01-02 15:04:05")
	if withInstance {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", t, e.Instance, exit, dur, cmdText)
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s", t, exit, dur, cmdText)
}

// writeJSONLine prints v as one compact JSON line.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// projectLogs prints the log files of the current project's instances
// (the output of running project containers' jobs is saved first).
func (lo logsOptions) projectLogs(cmd *cobra.Command) error {
	ctx := cmd.Context()
	st, err := pocketdock.ProjectStatus(ctx, lo.g.root, "")
	if err != nil {
		return err
	}
	type fileRef struct {
		instance string
		f        pocketdock.LogFile
	}
	collect := func() ([]fileRef, error) {
		for _, pc := range st.Containers {
			if pc.DataPath == "" || pc.Status != "running" {
				continue
			}
			if c, err := pocketdock.GetContainerIn(ctx, lo.g.root, pc.ID); err == nil {
				c.SaveLogs(ctx) //nolint:errcheck // best effort: the saved files are shown either way
			}
		}
		names, err := pocketdock.ProjectInstances(st.Root)
		if err != nil {
			return nil, err
		}
		var all []fileRef
		for _, n := range names {
			files, err := pocketdock.InstanceLogs(st.Root, n)
			if err != nil {
				continue // removed meanwhile
			}
			for _, f := range files {
				all = append(all, fileRef{n, f})
			}
		}
		// Oldest first over all instances.
		for i := 1; i < len(all); i++ {
			for j := i; j > 0 && all[j].f.ModTime.Before(all[j-1].f.ModTime); j-- {
				all[j], all[j-1] = all[j-1], all[j]
			}
		}
		if lo.limit > 0 && len(all) > lo.limit {
			all = all[len(all)-lo.limit:]
		}
		return all, nil
	}
	files, err := collect()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if lo.asJSON && !lo.follow {
		type row struct {
			Instance string    `json:"instance"`
			Name     string    `json:"name"`
			Path     string    `json:"path"`
			Size     int64     `json:"size"`
			ModTime  time.Time `json:"mod_time"`
			Content  string    `json:"content"`
		}
		rows := []row{}
		for _, r := range files {
			data, err := pocketdock.ReadInstanceLog(st.Root, r.instance, r.f.Name)
			if err != nil {
				continue
			}
			rows = append(rows, row{r.instance, r.f.Name, r.f.Path, r.f.Size, r.f.ModTime, string(data)})
		}
		return writeJSON(out, map[string]any{"project_name": st.Name, "root": st.Root, "logs": rows})
	}
	shown := map[string]int64{}
	show := func(list []fileRef) {
		for _, r := range list {
			data, err := pocketdock.ReadInstanceLog(st.Root, r.instance, r.f.Name)
			if err != nil {
				continue
			}
			from, ok := shown[r.f.Path]
			if ok && int64(len(data)) <= from {
				if int64(len(data)) < from {
					shown[r.f.Path] = int64(len(data)) // rewritten shorter (a job log saved again)
				}
				continue
			}
			if !ok || int64(len(data)) < from {
				from = 0
			}
			if lo.asJSON {
				writeJSONLine(out, map[string]any{"instance": r.instance, "name": r.f.Name, "path": r.f.Path, "data": string(data[from:])})
			} else {
				if !ok {
					fmt.Fprintf(out, "==> %s/%s <==\n", r.instance, r.f.Name)
				}
				out.Write(data[from:])
			}
			shown[r.f.Path] = int64(len(data))
		}
	}
	if len(files) == 0 && !lo.follow && !lo.asJSON {
		fmt.Fprintf(cmd.ErrOrStderr(), "no logs yet in %s (auto_log: %v)\n", st.Root, st.Config.AutoLog)
	}
	show(files)
	for lo.follow {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
		if st2, err := pocketdock.ProjectStatus(ctx, lo.g.root, st.Root); err == nil {
			st = st2
		}
		files, err := collect()
		if err != nil {
			return err
		}
		show(files)
	}
	return nil
}

// jobsJSON prints a container's detached jobs with their buffered output.
func (lo logsOptions) jobsJSON(cmd *cobra.Command, name string) error {
	ctx := cmd.Context()
	c, err := pocketdock.GetContainerIn(ctx, lo.g.root, name)
	if err != nil {
		return err
	}
	jobs, err := c.Jobs(ctx)
	if err != nil {
		return err
	}
	if lo.limit > 0 && len(jobs) > lo.limit {
		jobs = jobs[len(jobs)-lo.limit:]
	}
	type row struct {
		ID       int    `json:"id"`
		Command  string `json:"command"`
		State    string `json:"state"`
		ExitCode *int   `json:"exit_code"`
		Stdout   string `json:"stdout"`
		Stderr   string `json:"stderr"`
	}
	rows := []row{}
	for _, j := range jobs {
		out, err := c.JobOutput(j, 0, 0)
		if err != nil {
			return err
		}
		r := row{ID: j.ID, Command: j.Command, State: jobState(j), Stdout: out.Stdout, Stderr: out.Stderr}
		if !j.Running {
			code := j.ExitCode
			r.ExitCode = &code
		}
		rows = append(rows, r)
	}
	return writeJSON(cmd.OutOrStdout(), rows)
}

// projectLogLevel applies the log_level of the current folder's project
// (precedence: -v, then the project config, then level, the default). A
// folder outside a project, or a config that does not load, keeps level.
func projectLogLevel(level slog.Level, verbose bool) slog.Level {
	if verbose {
		return level
	}
	root, err := pocketdock.FindProjectRoot("")
	if err != nil {
		return level
	}
	cfg, err := pocketdock.LoadProjectConfig(root)
	if err != nil {
		return level
	}
	switch cfg.LogLevel {
	case "debug":
		logrus.SetLevel(logrus.DebugLevel)
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	case "error":
		logrus.SetLevel(logrus.ErrorLevel)
		return slog.LevelError
	}
	return level
}
