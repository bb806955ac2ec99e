package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

// progressWriter returns stderr when it is a terminal (progress bars only on a
// terminal, DESIGN.md), else nil.
func progressWriter() io.Writer {
	if isTerminal(os.Stderr) {
		return os.Stderr
	}
	return nil
}

type imageJSON struct {
	ID      string    `json:"id"`
	Names   []string  `json:"names"`
	Digest  string    `json:"digest"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

func toImageJSON(list []pocketdock.ImageInfo) []imageJSON {
	out := []imageJSON{}
	for _, i := range list {
		out = append(out, imageJSON{i.ID, i.Names, i.Digest, i.Size, i.Created})
	}
	return out
}

func printImages(cmd *cobra.Command, list []pocketdock.ImageInfo) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSIZE\tCREATED")
	for _, i := range list {
		name := "<none>"
		if len(i.Names) > 0 {
			name = strings.Join(i.Names, ",")
		}
		size := "-"
		if i.Size >= 0 {
			size = units.HumanSizeWithPrecision(float64(i.Size), 3)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, i.ID[:12], size, ago(i.Created))
	}
	return tw.Flush()
}

func newImagesCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List images",
		Example: "  pocketdock images\n" +
			"  pocketdock images --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := pocketdock.ListImages(cmd.Context(), g.root)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), toImageJSON(list))
			}
			return printImages(cmd, list)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newImportCmd(g *globals) *cobra.Command {
	var tag, input string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "import [FILE|DIR] [--tag T]",
		Aliases: []string{"load"},
		Short:   "Import a docker-archive, oci-archive, OCI layout folder or rootfs tarball (optionally gzip'd)",
		Long: "Load images into the store. FILE is a docker-archive (docker save, podman save, pocketdock export),\n" +
			"an oci-archive or a plain rootfs tarball (which needs --tag), each optionally compressed; DIR is an\n" +
			"OCI image layout; without either (or with FILE \"-\") the archive is read from stdin (not a terminal). The archive's own\n" +
			"tags are kept; --tag adds one (single-image archives only).",
		Example: "  pocketdock import images.tar.gz\n" +
			"  pocketdock load -i busybox.tar\n" +
			"  gunzip -c images.tar.gz | pocketdock load\n" +
			"  pocketdock import ./oci-layout-dir --tag myapp:1\n" +
			"  pocketdock import rootfs.tar.gz --tag localhost/myrootfs",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && input != "":
				return fmt.Errorf("%w: give FILE or -i FILE, not both", pocketdock.ErrInvalidArgument)
			case len(args) == 1:
				input = args[0]
			}
			if input == "-" {
				input = "" // podman import - / docker load -i -: stdin
			}
			var list []pocketdock.ImageInfo
			var err error
			if input == "" {
				// docker load's habit: the archive on stdin, when that is
				// not a terminal.
				in, ok := cmd.InOrStdin().(*os.File)
				if !ok || isTerminal(in) {
					return fmt.Errorf("%w: no FILE or DIR to import, and stdin is a terminal (give one, -i FILE, or redirect stdin)", pocketdock.ErrInvalidArgument)
				}
				list, err = pocketdock.ImportImageFrom(cmd.Context(), g.root, in, tag, progressWriter())
			} else {
				list, err = pocketdock.ImportImage(cmd.Context(), g.root, input, tag, progressWriter())
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), toImageJSON(list))
			}
			for _, i := range list {
				fmt.Fprintf(cmd.OutOrStdout(), "Loaded %s %s\n", strings.Join(i.Names, ","), i.ID[:12])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tag, "tag", "", "name for the image (required for a rootfs tarball)")
	cmd.Flags().StringVarP(&input, "input", "i", "", "the file to import (docker load's form)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPullCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull an image from a registry",
		Example: "  pocketdock pull docker.io/library/alpine:3.21\n" +
			"  pocketdock pull localhost:5000/team/app:dev",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := pocketdock.PullImage(cmd.Context(), g.root, args[0], progressWriter())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), toImageJSON([]pocketdock.ImageInfo{img})[0])
			}
			fmt.Fprintln(cmd.OutOrStdout(), img.ID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newRmiCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rmi IMAGE...",
		Short: "Remove images",
		Example: "  pocketdock rmi localhost/app:1\n" +
			"  pocketdock rmi 3f2a9c pocketdock/busybox",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, ref := range args {
				if err := pocketdock.RemoveImage(cmd.Context(), g.root, ref); err != nil {
					errs = append(errs, err)
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), "Removed", ref)
				}
			}
			return errors.Join(errs...)
		},
	}
}
