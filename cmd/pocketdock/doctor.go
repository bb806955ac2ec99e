package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

func newDoctorCmd(g *globals) *cobra.Command {
	var fix, asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "List (and with --fix remove) what crashed commands left behind in this state root",
		Example: "  pocketdock doctor\n" +
			"  pocketdock doctor --fix --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			projectRoot, _ := pocketdock.FindProjectRoot("") // the current folder's project, if any
			rep, err := pocketdock.DoctorWith(cmd.Context(), pocketdock.DoctorOptions{Root: g.root, Fix: fix, ProjectRoot: projectRoot})
			if asJSON {
				if jerr := writeJSON(cmd.OutOrStdout(), map[string]any{
					"orphans": nonNil(rep.Orphans), "fixed": nonNil(rep.Fixed), "healthy": rep.Healthy,
					"project_root": projectRoot, "stale_instances": nonNil(rep.StaleInstances),
					"orphaned_containers": nonNil(rep.OrphanedContainers), "project_healthy": rep.ProjectHealthy,
				}); jerr != nil {
					return jerr
				}
				return err
			}
			out := cmd.OutOrStdout()
			for _, o := range rep.Orphans {
				fmt.Fprintln(out, "orphan:", o)
			}
			for _, f := range rep.Fixed {
				fmt.Fprintln(out, "fixed: ", f)
			}
			if projectRoot != "" {
				fmt.Fprintf(out, "project %s: %d healthy instance(s), %d stale instance dir(s), %d orphaned container(s)\n",
					projectRoot, rep.ProjectHealthy, len(rep.StaleInstances), len(rep.OrphanedContainers))
			}
			fmt.Fprintf(out, "%d healthy container(s), %d orphan(s)", rep.Healthy, len(rep.Orphans))
			if len(rep.Orphans) > len(rep.OrphanedContainers) && !fix { // orphaned containers: rm, not --fix
				fmt.Fprint(out, " (pocketdock doctor --fix removes them)")
			}
			fmt.Fprintln(out)
			return err
		},
	}
	cmd.Flags().BoolVar(&fix, "fix", false, "remove what was found")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
