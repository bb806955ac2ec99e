package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

const quickstartText = `Get started:
  pocketdock create --name demo                  # a container from pocketdock/minimal-python
  pocketdock run demo -- echo hello              # run a command; its exit code passes through
  pocketdock run --lang python demo -- 'print(6*7)'
  pocketdock shell demo                          # an interactive shell
  pocketdock list                                # containers and their status
  pocketdock shutdown -y demo                    # stop and remove it

Projects:
  pocketdock init                                # make this folder a project (.pocketdock/pocketdock.yaml)
  pocketdock create --name web                   # created here: joins the project
  pocketdock status                              # the project's containers
  pocketdock logs web --history                  # the commands run in it, with exit codes
  pocketdock doctor                              # leftovers and stale instance directories

Every command answers --help with examples; read commands take --json.
`

func newQuickstartCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "quickstart",
		Short: "Check this host for pocketdock and print how to get started",
		Long: "Check what pocketdock needs — root, the overlay filesystem, cgroups, the default image (and the\n" +
			"project's default profile image inside a project) — then print the first commands to try.",
		Example: "  sudo pocketdock quickstart\n  pocketdock quickstart --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			images := []string{pocketdock.DefaultImage}
			if root, err := pocketdock.FindProjectRoot(""); err == nil {
				if cfg, err := pocketdock.LoadProjectConfig(root); err == nil && cfg.DefaultProfile != "" {
					if p, err := pocketdock.ResolveProfile(cfg.DefaultProfile); err == nil {
						images = append(images, p.ImageTag)
					}
				}
			}
			checks := pocketdock.CheckHost(cmd.Context(), g.root, images...)
			allOK := true
			for _, c := range checks {
				allOK = allOK && c.OK
			}
			if asJSON {
				type row struct {
					Name   string `json:"name"`
					OK     bool   `json:"ok"`
					Detail string `json:"detail"`
					Fix    string `json:"fix,omitempty"`
				}
				rows := []row{}
				for _, c := range checks {
					rows = append(rows, row{c.Name, c.OK, c.Detail, c.Fix})
				}
				return writeJSON(cmd.OutOrStdout(), map[string]any{"ok": allOK, "checks": rows})
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "pocketdock — local Linux sandboxes with no daemon.")
			fmt.Fprintln(out)
			fmt.Fprintln(out, "Host checks:")
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			for _, c := range checks {
				mark := "ok"
				if !c.OK {
					mark = "MISSING"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", mark, c.Name, c.Detail)
				if c.Fix != "" {
					fmt.Fprintf(tw, "  \t\tfix: %s\n", c.Fix)
				}
			}
			tw.Flush()
			fmt.Fprintln(out)
			if !allOK {
				fmt.Fprintln(out, "Fix what is missing first, then:")
				fmt.Fprintln(out)
			}
			fmt.Fprint(out, quickstartText)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
