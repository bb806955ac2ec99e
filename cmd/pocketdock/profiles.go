package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

// profileJSON is one profile in `profiles --json`.
type profileJSON struct {
	Name           string `json:"name"`
	ImageTag       string `json:"image_tag"`
	NetworkDefault string `json:"network_default"`
	Description    string `json:"description"`
	SizeEstimate   string `json:"size_estimate"`
	Dockerfile     string `json:"dockerfile,omitempty"`
}

func newProfilesCmd() *cobra.Command {
	var asJSON, dockerfile bool
	cmd := &cobra.Command{
		Use:   "profiles [NAME]",
		Short: "List the image profiles (or show one, with --dockerfile its Dockerfile)",
		Long: "List the six image profiles shipped in the binary: their image tag, network default,\n" +
			"estimated size and contents. Build one with `pocketdock build NAME`; create a container\n" +
			"from it with `pocketdock create --profile NAME`.",
		Example: "  pocketdock profiles\n" +
			"  pocketdock profiles --json\n" +
			"  pocketdock profiles embedded --dockerfile > Dockerfile",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			list := pocketdock.ListProfiles()
			if len(args) == 1 {
				p, err := pocketdock.ResolveProfile(args[0])
				if err != nil {
					return err
				}
				list = []pocketdock.ProfileInfo{p}
			} else if dockerfile {
				return fmt.Errorf("%w: --dockerfile needs a profile NAME (see pocketdock profiles)", pocketdock.ErrInvalidArgument)
			}
			w := cmd.OutOrStdout()
			if dockerfile && !asJSON {
				_, err := io.WriteString(w, list[0].Dockerfile)
				return err
			}
			if asJSON {
				out := []profileJSON{}
				for _, p := range list {
					j := profileJSON{p.Name, p.ImageTag, p.NetworkDefault, p.Description, p.SizeEstimate, ""}
					if dockerfile {
						j.Dockerfile = p.Dockerfile
					}
					out = append(out, j)
				}
				return writeJSON(w, out)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tIMAGE\tNETWORK\tSIZE\tCONTENTS")
			for _, p := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.ImageTag, p.NetworkDefault, p.SizeEstimate, p.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (name, image_tag, network_default, description, size_estimate)")
	cmd.Flags().BoolVar(&dockerfile, "dockerfile", false, "print the profile's Dockerfile (with --json: add a dockerfile field)")
	return cmd
}
