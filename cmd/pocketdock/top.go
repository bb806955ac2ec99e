package main

import (
	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

// newTopCmd is `top NAME [--json]`: the container's processes (pid, user from
// the container's /etc/passwd, state, command), as info lists them.
func newTopCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "top NAME",
		Short: "List a container's processes",
		Example: "  pocketdock top box\n" +
			"  pocketdock top --json box",
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
				procs := []processJSON{}
				for _, p := range in.Processes {
					procs = append(procs, processJSON{p.PID, p.HostPID, p.User, p.UID, p.State, p.Command})
				}
				return writeJSON(cmd.OutOrStdout(), procs)
			}
			printProcesses(cmd.OutOrStdout(), in.Processes)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
