package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/kballard/go-shellquote"
	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

func newCreateCmd(g *globals) *cobra.Command {
	var (
		o       pocketdock.Options
		timeout float64
		labels  []string
		asJSON  bool
		allowNP bool
		ports   []string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create and start a container",
		Example: "  pocketdock create --name box\n" +
			"  pocketdock create --image pocketdock/busybox --name tiny --mem-limit 256m --cpu-percent 50\n" +
			"  pocketdock create --name web --network bridge -p 8080:80 -v $PWD:/work --persist",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Root = g.root
			if cmd.Flags().Changed("name") && o.Name == "" {
				return fmt.Errorf("%w: empty container name: want 1 to 63 characters of [a-zA-Z0-9_.-]", pocketdock.ErrInvalidArgument)
			}
			if cmd.Flags().Changed("timeout") {
				if err := checkSeconds("timeout", timeout); err != nil {
					return err
				}
				o.Timeout = secondsFlag(timeout)
			}
			if len(labels) > 0 {
				o.Labels = map[string]string{}
				for _, l := range labels {
					k, v, _ := strings.Cut(l, "=")
					if k == "" {
						return fmt.Errorf("%w: label %q: want KEY=VALUE", pocketdock.ErrInvalidArgument, l)
					}
					o.Labels[k] = v
				}
			}
			if allowNP {
				f := false
				o.NoNewPrivileges = &f
			}
			if err := parsePortFlags(&o, ports); err != nil {
				return err
			}
			if o.Profile != "" && !cmd.Flags().Changed("pull") {
				o.Pull = "" // the SDK's default for a profile's image: built locally, never pulled
			}
			c, err := pocketdock.CreateNewContainer(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"id": c.ID(), "name": c.Name()})
			}
			fmt.Fprintln(cmd.OutOrStdout(), c.Name())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Image, "image", "", "image reference (default "+pocketdock.DefaultImage+")")
	f.StringVar(&o.Name, "name", "", "container name (default pd-<8 hex>)")
	f.StringVar(&o.Profile, "profile", "", "image profile (see pocketdock profiles): sets the image unless --image, and the network default")
	f.StringVar(&o.Pull, "pull", "missing", "pull policy: missing, always or never")
	f.Float64Var(&timeout, "timeout", 0, "default run timeout in seconds (0 = none; default 30)")
	f.Int64Var(&o.PidsLimit, "pids-limit", 0, "most processes at once (default 4096; -1 = none)")
	f.BoolVar(&o.Persist, "persist", false, "shutdown only stops; resume later")
	f.StringArrayVarP(&o.Env, "env", "e", nil, "environment KEY=VALUE (repeatable)")
	f.StringVarP(&o.User, "user", "u", "", "user to run commands as (name, uid, name:group)")
	f.StringVarP(&o.Workdir, "workdir", "w", "", "working directory of commands")
	f.StringVar(&o.Hostname, "hostname", "", "hostname (default: the name)")
	f.StringArrayVar(&labels, "label", nil, "label KEY=VALUE (repeatable)")
	f.BoolVar(&allowNP, "allow-new-privileges", false, "let setuid and file-capability binaries gain privileges")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	addLimitFlags(f, &o)
	addNetworkFlags(f, &o, &ports)
	addVolumeFlags(cmd, g, &o)
	return cmd
}

// secondsFlag turns a --timeout value in seconds into a duration: 0 means no
// limit (a negative duration for the SDK), and so do negative values and
// values beyond what a duration holds (never an overflowed conversion).
func secondsFlag(s float64) time.Duration {
	if s <= 0 || s >= maxSeconds || math.IsNaN(s) {
		return -1
	}
	return time.Duration(s * float64(time.Second))
}

// commandText joins run's arguments as API.md says: a single argument is the
// shell text itself; several are shell-quoted and joined.
func commandText(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return shellquote.Join(args...)
}

// resultJSON is ExecResult with the reference's snake_case field names.
type resultJSON struct {
	ExitCode   int     `json:"exit_code"`
	Stdout     string  `json:"stdout"`
	Stderr     string  `json:"stderr"`
	DurationMS float64 `json:"duration_ms"`
	TimedOut   bool    `json:"timed_out"`
	Truncated  bool    `json:"truncated"`
}

func newRunCmd(g *globals) *cobra.Command {
	var (
		timeout float64
		lang    string
		user    string
		workdir string
		env     []string
		asJSON  bool
		modes   runModes
	)
	cmd := &cobra.Command{
		Use:   "run NAME -- CMD...",
		Short: "Run a command in a container and wait for it",
		Example: "  pocketdock run box -- 'echo hello; uname -a'\n" +
			"  pocketdock run box -- sh -c 'exit 7'; echo $?\n" +
			"  pocketdock run --lang python box -- 'print(6*7)'\n" +
			"  pocketdock run --timeout 5 --json box -- make test",
		Long: "Run a command through /bin/sh -c in a running container. A single CMD argument is the shell\n" +
			"text itself; several are shell-quoted and joined. Exits with the command's exit code (124 on timeout).",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, args[0])
			if err != nil {
				return err
			}
			opts := []pocketdock.RunOption{pocketdock.WithLang(lang), pocketdock.WithEnv(env...),
				pocketdock.WithWorkdir(workdir), pocketdock.WithUser(user)}
			if cmd.Flags().Changed("timeout") {
				if err := checkSeconds("timeout", timeout); err != nil {
					return err
				}
				opts = append(opts, pocketdock.WithTimeout(secondsFlag(timeout)))
			}
			if modes.any() {
				return modes.run(cmd, c, commandText(args[1:]), opts)
			}
			res, err := c.Run(cmd.Context(), commandText(args[1:]), opts...)
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), resultJSON{ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr,
					DurationMS: float64(res.Duration.Microseconds()) / 1000, TimedOut: res.TimedOut, Truncated: res.Truncated}); err != nil {
					return err
				}
			} else {
				fmt.Fprint(cmd.OutOrStdout(), res.Stdout)
				fmt.Fprint(cmd.ErrOrStderr(), res.Stderr)
			}
			switch {
			case res.TimedOut:
				if cmd.Context().Err() == nil && !asJSON {
					fmt.Fprintf(cmd.ErrOrStderr(), "pocketdock: command timed out after %s\n", res.Duration.Round(time.Millisecond))
				}
				return exitError{exitTimeout}
			case res.ExitCode != 0:
				return exitError{res.ExitCode}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Float64Var(&timeout, "timeout", 0, "timeout in seconds (0 = none; default: the container's)")
	f.StringVar(&lang, "lang", "", "run the text as another language: python")
	f.StringVarP(&user, "user", "u", "", "run as this user")
	f.StringVarP(&workdir, "workdir", "w", "", "working directory")
	f.StringArrayVarP(&env, "env", "e", nil, "environment KEY=VALUE (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	modes.flags(cmd)
	return cmd
}

// confirm asks on a terminal; without one and without -y it refuses (exit 125).
func confirm(cmd *cobra.Command, yes bool, question string) error {
	if yes {
		return nil
	}
	if !isTerminal(os.Stdin) {
		return errors.New("refusing without confirmation: stdin is not a terminal; pass -y")
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
		return nil
	}
	return exitError{1}
}

func newShutdownCmd(g *globals) *cobra.Command {
	var yes, force bool
	cmd := &cobra.Command{
		Use:   "shutdown NAME",
		Short: "Stop a container and remove it (only stop it when it persists)",
		Example: "  pocketdock shutdown -y box\n" +
			"  pocketdock shutdown -y --force box",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, args[0])
			if err != nil {
				return err
			}
			if err := confirm(cmd, yes, fmt.Sprintf("Shut down %s?", c.Name())); err != nil {
				return err
			}
			return c.Shutdown(context.WithoutCancel(cmd.Context()), force)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask")
	cmd.Flags().BoolVar(&force, "force", false, "SIGKILL at once instead of SIGTERM and a grace period")
	return cmd
}

func newRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"destroy"},
		Short:   "Remove containers in any state, with their files",
		Example: "  pocketdock rm box\n" +
			"  pocketdock rm box web",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, n := range args {
				c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, n)
				if err == nil {
					err = c.Destroy(context.WithoutCancel(cmd.Context()))
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
}

func newListCmd(g *globals) *cobra.Command {
	var project string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ps", "ls"},
		Short:   "List containers",
		Example: "  pocketdock list\n" +
			"  pocketdock ps --json\n" +
			"  pocketdock list --project myproj",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := pocketdock.ListContainersIn(cmd.Context(), g.root, project)
			if err != nil {
				return err
			}
			if asJSON {
				rows := []containerJSON{}
				for _, c := range list {
					rows = append(rows, toContainerJSON(c))
				}
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tIMAGE\tSTATUS\tCREATED")
			for _, c := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.ID[:12], c.Image, c.Status, ago(c.CreatedAt))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "only this project's containers")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// containerJSON is one container of `list --json` (and of `status --json`):
// the reference's snake_case fields.
type containerJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Image     string    `json:"image"`
	Status    string    `json:"status"`
	Project   string    `json:"project"`
	Persist   bool      `json:"persist"`
	CreatedAt time.Time `json:"created_at"`
}

func toContainerJSON(c pocketdock.ContainerSummary) containerJSON {
	return containerJSON{c.ID, c.Name, c.Image, c.Status, c.Project, c.Persist, c.CreatedAt}
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return units.HumanDuration(time.Since(t)) + " ago"
}

func newInfoCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "info NAME",
		Aliases: []string{"inspect"},
		Short:   "Show a container's live state",
		Example: "  pocketdock info box\n" +
			"  pocketdock inspect --json box",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, args[0])
			if err != nil {
				return err
			}
			in, err := c.Info(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				doc := map[string]any{
					"id": in.ID, "name": in.Name, "status": in.Status, "image": in.Image, "image_id": in.ImageID,
					"created_at": in.CreatedAt, "started_at": in.StartedAt, "uptime_s": in.Uptime.Seconds(),
					"pid": in.PID1, "cmd": in.Cmd, "entrypoint": in.Entrypoint, "persist": in.Persist, "project": in.Project,
					"network": in.Network, "ip_address": in.IPAddress, "ports": portsJSON(in.Ports),
				}
				addUsageJSON(doc, in)
				return writeJSON(cmd.OutOrStdout(), doc)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "Name:\t%s\nID:\t%s\nStatus:\t%s\nImage:\t%s\nImage ID:\t%s\n", in.Name, in.ID, in.Status, in.Image, in.ImageID)
			fmt.Fprintf(tw, "Created:\t%s\n", in.CreatedAt.Local().Format(time.RFC3339))
			if !in.StartedAt.IsZero() {
				fmt.Fprintf(tw, "Started:\t%s\n", in.StartedAt.Local().Format(time.RFC3339))
			}
			if in.PID1 != 0 {
				fmt.Fprintf(tw, "Uptime:\t%s\nPID 1 (host):\t%d\n", in.Uptime.Round(time.Second), in.PID1)
			}
			fmt.Fprintf(tw, "Persist:\t%v\n", in.Persist)
			printUsageTable(tw, in)
			printNetworkInfo(tw, in)
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
