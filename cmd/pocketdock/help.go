package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

// addDefaultCommands makes cobra's own `help` and `completion` commands
// part of the tree now (cobra would add them at Execute) and gives them
// examples, so every command answers --help with one.
func addDefaultCommands(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	groupCommands(root)
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = "  pocketdock help run\n  pocketdock help export"
		case "completion":
			c.Example = "  source <(pocketdock completion bash)\n" +
				"  pocketdock completion zsh > \"${fpath[1]}/_pocketdock\"\n" +
				"  pocketdock completion fish > ~/.config/fish/completions/pocketdock.fish"
			// Cobra prints help for an unknown shell and exits 0; refuse it (125).
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return cmd.Help()
				}
				return fmt.Errorf("%w: completion for %q: want bash, zsh, fish or powershell", pocketdock.ErrInvalidArgument, args[0])
			}
			for _, sh := range c.Commands() {
				switch sh.Name() {
				case "bash":
					sh.Example = "  source <(pocketdock completion bash)\n" +
						"  pocketdock completion bash > /etc/bash_completion.d/pocketdock"
				case "zsh":
					sh.Example = "  pocketdock completion zsh > \"${fpath[1]}/_pocketdock\""
				case "fish":
					sh.Example = "  pocketdock completion fish > ~/.config/fish/completions/pocketdock.fish"
				case "powershell":
					sh.Example = "  pocketdock completion powershell | Out-String | Invoke-Expression"
				}
			}
		}
	}
}

// commandGroups are the groups of API.md's CLI table, in its order, with
// their commands; a command missing from it is listed under "Additional
// Commands".
var commandGroups = []struct {
	id, title string
	names     []string
}{
	{"start", "Start:", []string{"quickstart"}},
	{"project", "Projects:", []string{"init", "status", "doctor", "logs"}},
	{"lifecycle", "Containers:", []string{"create", "run", "exec", "shell", "reboot", "pause", "unpause", "stop", "resume", "shutdown", "snapshot", "prune", "rm"}},
	{"info", "Information:", []string{"list", "info", "top", "jobs"}},
	{"files", "Files:", []string{"push", "pull", "cp"}},
	{"images", "Images:", []string{"profiles", "build", "export", "import", "images", "tag", "rmi", "login", "logout"}},
	{"other", "Other:", []string{"completion", "version", "help"}},
}

// groupCommands sorts the root's commands into commandGroups for --help
// (groups with no command present are left out).
func groupCommands(root *cobra.Command) {
	present := map[string]*cobra.Command{}
	for _, c := range root.Commands() {
		present[c.Name()] = c
	}
	for _, g := range commandGroups {
		added := false
		for _, n := range g.names {
			c := present[n]
			if c == nil || c.GroupID != "" {
				continue
			}
			if !added {
				root.AddGroup(&cobra.Group{ID: g.id, Title: g.title})
				added = true
			}
			c.GroupID = g.id
		}
	}
	root.SetHelpCommandGroupID("other")
	root.SetCompletionCommandGroupID("other")
}
