// Command pocketdock is the CLI of pocketdock: flags in, SDK calls, tables or
// --json out. It has no logic of its own.
//
// Exit codes follow podman: a run exits with the command's code (124 on
// timeout), a build whose RUN failed with that RUN's code; pocketdock's own
// failures exit 125, a command that cannot be
// executed 126, one that is not found 127.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit codes of pocketdock's own failures (podman's).
const (
	exitInternal = 125
	exitTimeout  = 124
)

// exitError carries an exit code out of a command without printing anything.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

type globals struct {
	root    string
	verbose bool
}

func main() {
	pocketdock.Init()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	defer stop()
	g := &globals{}
	root := newRootCmd(g, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if cerr := pocketdock.CloseStores(); cerr != nil {
		slog.Debug("close image stores", "error", cerr)
	}
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, "pocketdock:", err)
	// A build whose RUN failed exits with the command's code, as podman
	// build does (podman 4.x; docker build exits 1).
	var be *pocketdock.BuildError
	if errors.As(err, &be) && be.ExitCode > 0 && be.ExitCode < 256 {
		return be.ExitCode
	}
	return exitInternal
}

func newRootCmd(g *globals, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:     "pocketdock",
		Short:   "Local Linux sandboxes with no daemon",
		Long:    "pocketdock creates throwaway or persistent Linux containers and runs commands in them.\nIt needs root. State lives under --root (or $POCKETDOCK_ROOT).",
		Version: version,
		Example: "  pocketdock create --name box\n" +
			"  pocketdock run box -- 'python3 -c \"print(1)\"'\n" +
			"  pocketdock shutdown -y box",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelWarn
			if g.verbose {
				level = slog.LevelDebug
				logrus.SetLevel(logrus.DebugLevel)
			} else {
				logrus.SetLevel(logrus.WarnLevel)
			}
			level = projectLogLevel(level, g.verbose)
			slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.root, "root", "", "state root (default $POCKETDOCK_ROOT, else /var/lib/pocketdock and /run/pocketdock)")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "debug logging on stderr")
	root.AddCommand(
		newCreateCmd(g), newRunCmd(g), newShutdownCmd(g), newRmCmd(g), newListCmd(g), newInfoCmd(g),
		newImagesCmd(g), newImportCmd(g), newPullCmd(g), newRmiCmd(g), newVersionCmd(),
	)
	root.AddCommand(newExecCmd(g), newJobsCmd(g), newLogsCmd(g), newShellCmd(g))
	root.AddCommand(newPushCmd(g), newCpCmd(g))
	extendPullCmd(root, g)
	root.AddCommand(newTopCmd(g))
	root.AddCommand(newDoctorCmd(g))
	root.AddCommand(newLifecycleCmds(g)...)
	root.AddCommand(newBuildCmd(g))
	root.AddCommand(newProfilesCmd())
	root.AddCommand(newInitCmd(g), newStatusCmd(g), newQuickstartCmd(g))
	extendLogsCmd(root, g)
	root.AddCommand(newExportCmd(g), newTagCmd(g), newLoginCmd(g), newLogoutCmd(g))
	extendHabits(root, g)
	// Flag errors are pocketdock's own failures: exit 125.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	})
	addDefaultCommands(root)
	return root
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Example: "  pocketdock version\n" +
			"  pocketdock version --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"version": version})
			}
			fmt.Fprintln(cmd.OutOrStdout(), "pocketdock", version)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// writeJSON prints v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
