package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock"
)

// runModes are run's flags beyond the blocking mode.
type runModes struct {
	interactive, tty, stream, detach bool
}

func (m *runModes) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVarP(&m.interactive, "interactive", "i", false, "forward this process's stdin to the command (default: empty stdin)")
	f.BoolVarP(&m.tty, "tty", "t", false, "run the command on a pseudo-terminal (see pocketdock shell --help for stdin and signals)")
	f.BoolVar(&m.stream, "stream", false, "print output as it comes")
	f.BoolVarP(&m.detach, "detach", "d", false, "start a detached job, print its ID and return")
}

func (m *runModes) any() bool { return m.interactive || m.tty || m.stream || m.detach }

// run carries out run with one of the modes.
func (m *runModes) run(cmd *cobra.Command, c *pocketdock.Container, text string, opts []pocketdock.RunOption) error {
	ctx := cmd.Context()
	switch {
	case m.detach && (m.tty || m.stream || m.interactive):
		return fmt.Errorf("%w: --detach cannot be combined with -i, -t or --stream", pocketdock.ErrInvalidArgument)
	case m.tty && m.stream:
		return fmt.Errorf("%w: -t cannot be combined with --stream", pocketdock.ErrInvalidArgument)
	case m.detach:
		p, err := c.Detach(ctx, text, opts...)
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), p.ID())
		return nil
	case m.tty:
		return exitFor(runTerminal(ctx, c, []string{"/bin/sh", "-c", text}, m.interactive, cmd.OutOrStdout()))
	}
	if m.interactive {
		opts = append(opts, pocketdock.WithStdin(os.Stdin))
	}
	var res pocketdock.ExecResult
	var err error
	if m.stream {
		s := c.Stream(ctx, text, opts...)
		for ch := range s.Chunks() {
			if ch.Stream == "stderr" {
				cmd.ErrOrStderr().Write(ch.Data)
			} else {
				cmd.OutOrStdout().Write(ch.Data)
			}
		}
		res, err = s.Result()
	} else {
		res, err = c.Run(ctx, text, opts...)
		if err == nil {
			fmt.Fprint(cmd.OutOrStdout(), res.Stdout)
			fmt.Fprint(cmd.ErrOrStderr(), res.Stderr)
		}
	}
	if err != nil {
		return err
	}
	return resultExit(cmd, res)
}

// resultExit turns a result into run's exit code.
func resultExit(cmd *cobra.Command, res pocketdock.ExecResult) error {
	switch {
	case res.TimedOut:
		if cmd.Context().Err() == nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "pocketdock: command timed out after %s\n", res.Duration.Round(time.Millisecond))
		}
		return exitError{exitTimeout}
	case res.ExitCode != 0:
		return exitError{res.ExitCode}
	}
	return nil
}

func exitFor(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// runTerminal runs argv on a pty: the local terminal (when stdin is one)
// goes to raw mode and its size follows SIGWINCH; stdin is forwarded when
// forwardStdin or when it is a terminal. Stdin that is not a terminal ends
// with the pty's end-of-file (feedStdin). SIGTERM, SIGHUP and SIGINT
// restore the local terminal, kill the command's tree and give 128+N
// (waitOrSignal).
func runTerminal(ctx context.Context, c *pocketdock.Container, argv []string, forwardStdin bool, out io.Writer) (int, error) {
	in := os.Stdin
	local := isTerminal(in)
	var rows, cols uint16
	if ws, err := unix.IoctlGetWinsize(int(in.Fd()), unix.TIOCGWINSZ); err == nil {
		rows, cols = ws.Row, ws.Col
	}
	t, err := c.Terminal(ctx, argv, rows, cols)
	if err != nil {
		return 0, err
	}
	defer t.Close()
	if local {
		old, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS)
		if err == nil {
			raw := *old
			raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
			raw.Oflag &^= unix.OPOST
			raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
			raw.Cflag &^= unix.CSIZE | unix.PARENB
			raw.Cflag |= unix.CS8
			raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
			unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, &raw)
			defer unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, old)
		}
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if ws, err := unix.IoctlGetWinsize(int(in.Fd()), unix.TIOCGWINSZ); err == nil {
					t.Resize(ws.Row, ws.Col)
				}
			}
		}()
	}
	done := make(chan struct{})
	defer close(done)
	if local {
		go io.Copy(t, in)
	} else {
		go feedStdin(t, in, forwardStdin, done)
	}
	copied := make(chan struct{})
	go func() {
		io.Copy(out, t) // ends with EIO once the terminal is closed by all
		close(copied)
	}()
	code, err := waitOrSignal(t)
	select {
	case <-copied:
	case <-time.After(200 * time.Millisecond):
	}
	return code, err
}

func newExecCmd(g *globals) *cobra.Command {
	var (
		user, workdir string
		env           []string
		timeout       float64
		interactive   bool
		tty           bool
	)
	cmd := &cobra.Command{
		Use:   "exec NAME -- ARGV...",
		Short: "Run a program in a container without a shell and wait for it",
		Example: "  pocketdock exec box -- ls -l /home/sandbox\n" +
			"  pocketdock exec -it box -- python3\n" +
			"  pocketdock exec -u root -e DEBUG=1 box -- env",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSeconds("timeout", timeout); err != nil {
				return err
			}
			c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, args[0])
			if err != nil {
				return err
			}
			if tty {
				return exitFor(runTerminal(cmd.Context(), c, args[1:], interactive, cmd.OutOrStdout()))
			}
			opts := []pocketdock.RunOption{pocketdock.WithEnv(env...), pocketdock.WithWorkdir(workdir), pocketdock.WithUser(user)}
			if cmd.Flags().Changed("timeout") {
				opts = append(opts, pocketdock.WithTimeout(secondsFlag(timeout)))
			}
			if interactive {
				opts = append(opts, pocketdock.WithStdin(os.Stdin))
			}
			res, err := c.Exec(cmd.Context(), args[1:], opts...)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), res.Stdout)
			fmt.Fprint(cmd.ErrOrStderr(), res.Stderr)
			return resultExit(cmd, res)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&timeout, "timeout", 0, "timeout in seconds (0 = none; default: the container's)")
	f.StringVarP(&user, "user", "u", "", "run as this user")
	f.StringVarP(&workdir, "workdir", "w", "", "working directory")
	f.StringArrayVarP(&env, "env", "e", nil, "environment KEY=VALUE (repeatable)")
	f.BoolVarP(&interactive, "interactive", "i", false, "forward stdin")
	f.BoolVarP(&tty, "tty", "t", false, "run on a pseudo-terminal (see pocketdock shell --help for stdin and signals)")
	return cmd
}

func newShellCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "shell NAME",
		Short:   "Open an interactive shell in a container (bash when present, else sh)",
		Example: "  pocketdock shell box",
		Args:    cobra.ExactArgs(1),
		Long:    "Open an interactive shell in a container (bash when present, else sh) on a pseudo-terminal.\n\n" + terminalHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, args[0])
			if err != nil {
				return err
			}
			argv := []string{"/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash -i; fi; exec /bin/sh -i"}
			return exitFor(runTerminal(context.WithoutCancel(cmd.Context()), c, argv, true, cmd.OutOrStdout()))
		},
	}
}

type jobJSON struct {
	ID          int       `json:"id"`
	Command     string    `json:"command"`
	State       string    `json:"state"`
	ExitCode    *int      `json:"exit_code"`
	Pid         int       `json:"pid"`
	StartedAt   time.Time `json:"started_at"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
	StdoutBytes int64     `json:"stdout_bytes"`
	StderrBytes int64     `json:"stderr_bytes"`
	BufferSize  int64     `json:"buffer_size"`
}

func jobState(j pocketdock.JobInfo) string {
	if j.Running {
		return "running"
	}
	return "exited"
}

func newJobsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "jobs NAME",
		Short: "List a container's detached jobs: id, command, state, exit code",
		Example: "  pocketdock jobs box\n" +
			"  pocketdock jobs --json box",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, args[0])
			if err != nil {
				return err
			}
			jobs, err := c.Jobs(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				rows := []jobJSON{}
				for _, j := range jobs {
					r := jobJSON{ID: j.ID, Command: j.Command, State: jobState(j), Pid: j.Pid, StartedAt: j.StartedAt,
						EndedAt: j.EndedAt, StdoutBytes: j.StdoutBytes, StderrBytes: j.StderrBytes, BufferSize: j.BufferSize}
					if !j.Running {
						code := j.ExitCode
						r.ExitCode = &code
					}
					rows = append(rows, r)
				}
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tEXIT\tSTARTED\tCOMMAND")
			for _, j := range jobs {
				code := "-"
				if !j.Running {
					code = fmt.Sprint(j.ExitCode)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", j.ID, jobState(j), code, ago(j.StartedAt), strings.ReplaceAll(j.Command, "\n", " "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newLogsCmd(g *globals) *cobra.Command {
	var follow bool
	var job int
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Show the output of a container's detached jobs (kept: the last 1 MiB per stream)",
		Example: "  pocketdock logs box\n" +
			"  pocketdock logs -f --job 2 box",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := pocketdock.GetContainerIn(ctx, g.root, args[0])
			if err != nil {
				return err
			}
			type pos struct{ out, err int64 }
			seen := map[int]*pos{}
			show := func() (bool, error) {
				jobs, err := c.Jobs(ctx)
				if err != nil {
					return false, err
				}
				running := false
				for _, j := range jobs {
					if job != 0 && j.ID != job {
						continue
					}
					running = running || j.Running
					p := seen[j.ID]
					if p == nil {
						p = &pos{}
						seen[j.ID] = p
					}
					out, err := c.JobOutput(j, p.out, p.err)
					if err != nil {
						return false, err
					}
					cmd.OutOrStdout().Write([]byte(out.Stdout))
					cmd.ErrOrStderr().Write([]byte(out.Stderr))
					p.out, p.err = j.StdoutBytes, j.StderrBytes
				}
				return running, nil
			}
			for {
				running, err := show()
				if err != nil {
					if follow && (errors.Is(err, pocketdock.ErrContainerNotRunning) || errors.Is(err, pocketdock.ErrContainerNotFound)) {
						return nil
					}
					return err
				}
				if !follow || (job != 0 && !running) {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until interrupted (with --job: until it ends)")
	cmd.Flags().IntVar(&job, "job", 0, "only this job's output")
	return cmd
}
