package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

// newExportCmd is `export [--all | IMAGE…] -o FILE` (alias save).
func newExportCmd(g *globals) *cobra.Command {
	var (
		output string
		all    bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:     "export [--all | IMAGE...] [-o FILE]",
		Aliases: []string{"save"},
		Short:   "Write images with all their tags into one docker-archive (.tar, or gzip'd .tar.gz/.tgz)",
		Long: "Write images into one docker-archive file that pocketdock import, podman load and docker load read.\n" +
			"An image named by a tag is written with that tag; one named by ID with all its tags; --all writes\n" +
			"every image with every tag. FILE ending in .tar.gz or .tgz is gzip-compressed. The file appears only\n" +
			"when complete (an existing one is replaced). Without -o the archive (a plain tar) goes to stdout,\n" +
			"which must not be a terminal.",
		Example: "  pocketdock export --all -o images.tar.gz\n" +
			"  pocketdock export pocketdock/minimal-python localhost/app:1 -o two.tar\n" +
			"  pocketdock save -o busybox.tar pocketdock/busybox\n" +
			"  pocketdock save pocketdock/busybox | ssh host pocketdock load",
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				// docker save's habit: the archive on stdout, when that is
				// not a terminal.
				out, ok := cmd.OutOrStdout().(*os.File)
				if !ok || isTerminal(out) {
					return fmt.Errorf("%w: no -o FILE, and stdout is a terminal: give -o FILE.tar|FILE.tar.gz or redirect stdout", pocketdock.ErrInvalidArgument)
				}
				if asJSON {
					return fmt.Errorf("%w: --json needs -o FILE (stdout carries the archive)", pocketdock.ErrInvalidArgument)
				}
				_, err := pocketdock.ExportImagesTo(cmd.Context(), g.root, args, all, out, false, progressWriter())
				return err
			}
			done, err := pocketdock.ExportImages(cmd.Context(), g.root, args, all, output, progressWriter())
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					ID   string   `json:"id"`
					Tags []string `json:"tags"`
				}
				rows := []row{}
				for _, e := range done {
					rows = append(rows, row{e.ID, e.Tags})
				}
				return writeJSON(cmd.OutOrStdout(), map[string]any{"path": output, "images": rows})
			}
			tags := 0
			for _, e := range done {
				tags += len(e.Tags)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Exported %d image(s) with %d tag(s) to %s\n", len(done), tags, output)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write (.tar, .tar.gz or .tgz)")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "every image of the store, with every tag")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was written as JSON")
	return cmd
}

// newTagCmd is `tag SRC DST…`.
func newTagCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SRC DST...",
		Short: "Give an image more names",
		Long: "Add names to a local image, like podman tag: a name without a registry gets localhost/\n" +
			"(app → localhost/app:latest), a missing tag :latest; a name another image had moves to this one.",
		Example: "  pocketdock tag pocketdock/minimal-python myapp:1\n" +
			"  pocketdock tag 3f2a9c localhost:5000/team/app:dev docker.io/me/app:dev",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := pocketdock.TagImage(cmd.Context(), g.root, args[0], args[1:]...)
			return err
		},
	}
}
