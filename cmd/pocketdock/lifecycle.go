package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

// addVolumeFlags adds create's -v/--volume HOST:CTR[:ro|:rw] (repeatable).
// -v is --verbose elsewhere; on create --verbose keeps only its long form.
func addVolumeFlags(cmd *cobra.Command, g *globals, o *pocketdock.Options) {
	var vols []string
	f := cmd.Flags()
	f.BoolVar(&g.verbose, "verbose", false, "debug logging on stderr")
	f.StringArrayVarP(&vols, "volume", "v", nil, "bind mount HOST:CTR[:ro] (repeatable; the host path must exist; nothing is chowned)")
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		for _, v := range vols {
			m, err := parseVolume(v)
			if err != nil {
				return err
			}
			o.Mounts = append(o.Mounts, m)
		}
		return nil
	}
}

// parseVolume parses HOST:CTR[:ro|:rw].
func parseVolume(v string) (pocketdock.Mount, error) {
	parts := strings.Split(v, ":")
	bad := fmt.Errorf("%w: volume %q: want HOST:CONTAINER[:ro]", pocketdock.ErrInvalidArgument, v)
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return pocketdock.Mount{}, bad
	}
	m := pocketdock.Mount{Source: parts[0], Target: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return pocketdock.Mount{}, bad
		}
	}
	return m, nil
}

// newLifecycleCmds returns stop (habits.go), resume, pause, unpause, reboot, snapshot and prune.
func newLifecycleCmds(g *globals) []*cobra.Command {
	simple := func(use, short string, do func(ctx context.Context, c *pocketdock.Container) error) *cobra.Command {
		return &cobra.Command{
			Use:     use + " NAME",
			Short:   short,
			Example: "  pocketdock " + use + " box",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, args[0])
				if err != nil {
					return err
				}
				return do(context.WithoutCancel(cmd.Context()), c)
			},
		}
	}
	stop := newStopCmd(g)
	var fresh bool
	reboot := simple("reboot", "Restart a container in place (--fresh: with a new filesystem from the image)",
		func(ctx context.Context, c *pocketdock.Container) error { return c.Reboot(ctx, fresh) })
	reboot.Flags().BoolVar(&fresh, "fresh", false, "recreate the filesystem from the image (volumes and configuration stay)")
	reboot.Example += "\n  pocketdock reboot --fresh box"
	return []*cobra.Command{
		stop, reboot,
		simple("resume", "Start a stopped container again with its files (also after a host reboot)",
			func(ctx context.Context, c *pocketdock.Container) error { return c.Resume(ctx) }),
		simple("pause", "Freeze every process of a container",
			func(ctx context.Context, c *pocketdock.Container) error { return c.Pause(ctx) }),
		simple("unpause", "Thaw a paused container",
			func(ctx context.Context, c *pocketdock.Container) error { return c.Unpause(ctx) }),
		newSnapshotCmd(g), newPruneCmd(g),
	}
}

func newSnapshotCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "snapshot NAME IMAGE",
		Short: "Commit a container's filesystem changes as a new image",
		Example: "  pocketdock snapshot box myapp:1\n" +
			"  pocketdock snapshot --json box localhost/box-backup",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, args[0])
			if err != nil {
				return err
			}
			id, err := c.Snapshot(cmd.Context(), args[1])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"id": id, "image": args[1]})
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPruneCmd(g *globals) *cobra.Command {
	var yes, asJSON bool
	var project string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove every stopped container (of one project with --project)",
		Example: "  pocketdock prune -y\n" +
			"  pocketdock prune -y --project myproj",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := "Remove every stopped container?"
			if project != "" {
				q = fmt.Sprintf("Remove every stopped container of project %s?", project)
			}
			if err := confirm(cmd, yes, q); err != nil {
				return err
			}
			n, err := pocketdock.PruneIn(context.WithoutCancel(cmd.Context()), g.root, project)
			if asJSON {
				if jerr := writeJSON(cmd.OutOrStdout(), map[string]int{"removed": n}); jerr != nil {
					return jerr
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %d\n", n)
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask")
	cmd.Flags().StringVar(&project, "project", "", "only this project's containers")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
