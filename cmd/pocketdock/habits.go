package main

// Docker and podman habits: the short flags their users type out of habit
// (ps -a / -q, images -q, rm -f, rmi -f, stop -t), each doing what docker or
// podman does, or, where pocketdock already behaves that way, accepted and
// documented as changing nothing.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

// extendHabits adds the docker-habit flags to list, images, rm and rmi, and
// docker's argument rule to run and exec (extendCommandArgs).
func extendHabits(root *cobra.Command, g *globals) {
	for _, cmd := range root.Commands() {
		switch cmd.Name() {
		case "list":
			extendListHabits(cmd, g)
		case "images":
			extendImagesHabits(cmd, g)
		case "rm":
			var force bool
			cmd.Flags().BoolVarP(&force, "force", "f", false, "accepted for docker's rm -f; changes nothing (rm always removes running containers too)")
			cmd.Long = "Remove containers in any state, with their files: a running container is killed at once (SIGKILL),\n" +
				"as docker rm -f does, so -f/--force changes nothing. A name that matches no container is an error\n" +
				"(exit 125) naming it; the other containers given are still removed."
			cmd.Example += "\n  pocketdock rm -f $(pocketdock ps -aq)"
		case "rmi":
			extendRmiHabits(cmd, g)
		case "run", "exec":
			extendCommandArgs(cmd)
		}
	}
}

// quietJSONError is the error for -q together with --json.
func quietJSONError() error {
	return fmt.Errorf("%w: --quiet (-q) and --json cannot be combined: -q prints IDs only, --json whole rows; pick one", pocketdock.ErrInvalidArgument)
}

// shortID returns id as docker prints it by default: its first 12 hex digits.
func shortID(id string) string {
	if len(id) <= 12 {
		return id
	}
	return id[:12]
}

func extendListHabits(cmd *cobra.Command, g *globals) {
	var all, quiet bool
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "accepted for docker's ps -a; changes nothing (every container is listed, stopped ones too)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only container IDs (the short 12 hex digits), one per line")
	cmd.Long = "List the containers of the state root in every state (created, running, paused, exited), so -a/--all\n" +
		"changes nothing. -q prints only their IDs, as docker ps -q does: the short 12-digit ID, one per line;\n" +
		"every command that takes NAME also takes such an ID (or any unique prefix)."
	cmd.Example += "\n  pocketdock ps -aq\n" +
		"  pocketdock stop $(pocketdock ps -q)"
	withQuiet(cmd, &quiet, func(c *cobra.Command) error {
		project, _ := c.Flags().GetString("project")
		list, err := pocketdock.ListContainersIn(c.Context(), g.root, project)
		if err != nil {
			return err
		}
		for _, ctr := range list {
			fmt.Fprintln(c.OutOrStdout(), shortID(ctr.ID))
		}
		return nil
	})
}

func extendImagesHabits(cmd *cobra.Command, g *globals) {
	var quiet bool
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only image IDs (12 hex digits, each once), one per line")
	cmd.Long = "List the images of the store: names, ID, size, age. -q prints only the IDs, as docker images -q does:\n" +
		"the short 12-digit ID of each image once, one per line (rmi and create take such an ID or a unique prefix)."
	cmd.Example += "\n  pocketdock images -q"
	withQuiet(cmd, &quiet, func(c *cobra.Command) error {
		list, err := pocketdock.ListImages(c.Context(), g.root)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, i := range list {
			id := shortID(i.ID)
			if !seen[id] {
				seen[id] = true
				fmt.Fprintln(c.OutOrStdout(), id)
			}
		}
		return nil
	})
}

// withQuiet makes cmd run printIDs instead of its table when -q is set
// (*quiet); -q with --json is refused.
func withQuiet(cmd *cobra.Command, quiet *bool, printIDs func(c *cobra.Command) error) {
	table := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		asJSON, _ := c.Flags().GetBool("json")
		if *quiet && asJSON {
			return quietJSONError()
		}
		if !*quiet {
			return table(c, args)
		}
		return printIDs(c)
	}
}

func extendRmiHabits(cmd *cobra.Command, g *globals) {
	var force bool
	cmd.Flags().BoolVarP(&force, "force", "f", false, "also remove the containers using the image (killed at once, files and all), like podman rmi -f")
	cmd.Long = "Remove images. IMAGE is a name, an ID or a unique ID prefix. Naming one of an image's several names\n" +
		"removes only that name; an ID (or its last name) deletes the image with all its names.\n" +
		"An image that a container uses is refused (exit 125), naming the container; -f/--force removes\n" +
		"those containers first — killed at once, with their files, as rm does — and then the image, as\n" +
		"podman rmi -f does. The RUN container of a build under way is never removed: while a build uses\n" +
		"the image, rmi -f refuses (exit 125), naming it, and removes nothing."
	cmd.Example += "\n  pocketdock rmi -f localhost/app:1"
	cmd.RunE = func(c *cobra.Command, args []string) error {
		var errs []error
		for _, ref := range args {
			removed, err := pocketdock.RemoveImageWith(c.Context(), g.root, ref, pocketdock.RemoveImageOptions{Force: force})
			for _, name := range removed {
				fmt.Fprintln(c.OutOrStdout(), "Removed container", name)
			}
			if err != nil {
				errs = append(errs, err)
			} else {
				fmt.Fprintln(c.OutOrStdout(), "Removed", ref)
			}
		}
		return errors.Join(errs...)
	}
}

// newStopCmd is stop NAME... with docker's -t/--time.
func newStopCmd(g *globals) *cobra.Command {
	var force bool
	var secs int
	cmd := &cobra.Command{
		Use:   "stop NAME...",
		Short: "Stop containers, keeping them and their files (SIGTERM, SIGKILL after 10 s)",
		Long: "Stop containers, keeping them and their files for resume: SIGTERM to the container (its agent\n" +
			"forwards it to every command), then SIGKILL after -t/--time seconds (default 10; 0 = at once,\n" +
			"the same as --force), like docker stop -t. A container that is not running is no error; a NAME\n" +
			"that matches none is (exit 125), and the others given are still stopped. Ctrl-C (or SIGTERM)\n" +
			"during the wait cuts it short: SIGKILL at once, and the containers still end up stopped.",
		Example: "  pocketdock stop box\n" +
			"  pocketdock stop -t 2 box web\n" +
			"  pocketdock stop --force box\n" +
			"  pocketdock stop $(pocketdock ps -q)",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			timed := cmd.Flags().Changed("time")
			if maxTime := int64(math.MaxInt64 / time.Second); timed && (secs < 0 || int64(secs) > maxTime) {
				return fmt.Errorf("%w: --time %d: want a number of seconds from 0 (SIGKILL at once) to %d", pocketdock.ErrInvalidArgument, secs, maxTime)
			}
			if timed && force {
				return fmt.Errorf("%w: --force and --time cannot be combined (--force is --time 0)", pocketdock.ErrInvalidArgument)
			}
			// The grace period ends with cmd's context (Ctrl-C, SIGTERM):
			// StopAfter then kills at once and still completes the stop.
			ctx := cmd.Context()
			var errs []error
			for _, n := range args {
				c, err := pocketdock.GetContainerIn(context.WithoutCancel(ctx), g.root, n)
				if err == nil {
					if timed {
						err = c.StopAfter(ctx, time.Duration(secs)*time.Second)
					} else {
						err = c.Stop(ctx, force)
					}
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			if ctx.Err() != nil && !force && !(timed && secs == 0) {
				fmt.Fprintln(cmd.ErrOrStderr(), "pocketdock: stop interrupted: grace period cut short, SIGKILL sent")
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "SIGKILL at once (the same as -t 0)")
	cmd.Flags().IntVarP(&secs, "time", "t", int(pocketdock.DefaultStopGrace/time.Second), "seconds to wait after SIGTERM before SIGKILL (0 = SIGKILL at once)")
	return cmd
}

// commandArgsHelp explains extendCommandArgs's rule in run's and exec's help.
const commandArgsHelp = "Flags go before NAME or right after it; from the first argument after NAME that is not a flag on,\n" +
	"everything belongs to the command (docker's rule), so `--` is optional: exec box ls -la works.\n" +
	"A `--` before NAME ends pocketdock's flags: all after NAME is the command."

// extendCommandArgs gives run and exec docker's argument rule: flags are
// parsed up to the first argument after NAME that is not a flag, and all
// from there on is the command's, its own flags included (docker exec box
// ls -la). pocketdock's form NAME [FLAGS] -- CMD... keeps working.
func extendCommandArgs(cmd *cobra.Command) {
	cmd.Flags().SetInterspersed(false)
	cmd.Use = strings.Replace(cmd.Use, " -- ", " [--] ", 1)
	if cmd.Long == "" {
		cmd.Long = cmd.Short + "."
	}
	cmd.Long += "\n\n" + commandArgsHelp
	cmd.Example += "\n  pocketdock " + cmd.Name() + " box ls -la /tmp"
	check, run := cmd.Args, cmd.RunE
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		verbose := c.Flags().Changed("verbose")
		args, err := commandArgs(c, args)
		if err != nil {
			return err
		}
		// -v/--verbose right after NAME: set up logging again, as the root's
		// PersistentPreRun did before that flag was parsed.
		if root := c.Root(); !verbose && c.Flags().Changed("verbose") && root.PersistentPreRun != nil {
			root.PersistentPreRun(c, args)
		}
		if h, _ := c.Flags().GetBool("help"); h {
			return c.Help()
		}
		if check != nil {
			if err := check(c, args); err != nil {
				return err
			}
		}
		return run(c, args)
	}
}

// commandArgs splits run's and exec's arguments (parsed without
// interspersed flags: NAME and all after it) into NAME and the command:
// a leading "--" after NAME is dropped; flags right after NAME are parsed
// up to the command (or "--"); otherwise all after NAME is the command. A
// "--" before NAME ends the flags for good, as in docker: all after NAME
// is the command.
func commandArgs(c *cobra.Command, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	name, rest := args[0], args[1:]
	switch {
	case c.ArgsLenAtDash() == 0:
		// "--" before NAME ended the flags: all after NAME is the command.
		return args, nil
	case rest[0] == "--":
		return append([]string{name}, rest[1:]...), nil
	case len(rest[0]) > 1 && rest[0][0] == '-':
		if err := c.Flags().Parse(rest); err != nil {
			return nil, fmt.Errorf("%w (see %s --help)", err, c.CommandPath())
		}
		return append([]string{name}, c.Flags().Args()...), nil
	}
	return args, nil
}
