package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

func newPushCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "push NAME SRC DEST",
		Short: "Copy a host file or directory into a container (modes, mtimes, symlinks kept)",
		Example: "  pocketdock push box ./src /home/sandbox/src\n" +
			"  pocketdock push box data.csv /tmp/data.csv",
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, args[0])
			if err != nil {
				return err
			}
			return c.Push(cmd.Context(), args[1], args[2])
		},
	}
}

// extendPullCmd lets the image command `pull REF` also take the file form
// `pull NAME SRC DEST` (API.md lists both), told apart by the count.
func extendPullCmd(root *cobra.Command, g *globals) {
	for _, cmd := range root.Commands() {
		if cmd.Name() != "pull" {
			continue
		}
		imagePull := cmd.RunE
		cmd.Use = "pull REF | pull NAME SRC DEST"
		cmd.Short = "Pull an image from a registry, or copy a file or directory out of a container"
		cmd.Example = "  pocketdock pull docker.io/library/alpine:3.21\n" +
			"  pocketdock pull localhost:5000/team/app:dev\n" +
			"  pocketdock pull box /home/sandbox/out ./out"
		cmd.Args = func(c *cobra.Command, args []string) error {
			if len(args) != 1 && len(args) != 3 {
				return fmt.Errorf("%w: want REF (an image) or NAME SRC DEST (files), got %d arguments", pocketdock.ErrInvalidArgument, len(args))
			}
			return nil
		}
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				return imagePull(c, args)
			}
			ctr, err := pocketdock.GetContainerIn(c.Context(), g.root, args[0])
			if err != nil {
				return err
			}
			return ctr.Pull(c.Context(), args[1], args[2])
		}
	}
}

// splitCpArg splits NAME:PATH; a path with a "/" before any ":" is local.
func splitCpArg(s string) (name, path string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || strings.Contains(s[:i], "/") {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

func newCpCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cp NAME:SRC DEST | cp SRC NAME:DEST",
		Short: "Copy files between a container and the host",
		Example: "  pocketdock cp box:/home/sandbox/report.txt .\n" +
			"  pocketdock cp ./src box:/home/sandbox/src",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sn, sp, sok := splitCpArg(args[0])
			dn, dp, dok := splitCpArg(args[1])
			switch {
			case sok && !dok:
				c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, sn)
				if err != nil {
					return err
				}
				return c.Pull(cmd.Context(), sp, dp)
			case dok && !sok:
				c, err := pocketdock.GetContainerIn(cmd.Context(), g.root, dn)
				if err != nil {
					return err
				}
				return c.Push(cmd.Context(), sp, dp)
			}
			return fmt.Errorf("%w: cp %q %q: exactly one side must be NAME:PATH (a local path with a colon: write ./%s)", pocketdock.ErrInvalidArgument, args[0], args[1], args[0])
		},
	}
}
