package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// walk calls f for cmd and every command below it, hidden ones excluded.
func walk(cmd *cobra.Command, f func(*cobra.Command)) {
	if cmd.Hidden {
		return
	}
	f(cmd)
	for _, c := range cmd.Commands() {
		walk(c, f)
	}
}

func newTestRoot() *cobra.Command {
	var out, errb bytes.Buffer
	return newRootCmd(&globals{}, &out, &errb)
}

// Every command, the ones other branches add included, has a Short line and
// an Example (API.md: every command answers --help with an example).
func TestEveryCommandHasShortAndExample(t *testing.T) {
	n := 0
	walk(newTestRoot(), func(c *cobra.Command) {
		n++
		if strings.TrimSpace(c.Short) == "" {
			t.Errorf("command %q has no Short description", c.CommandPath())
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("command %q has no Example", c.CommandPath())
		}
		for _, line := range strings.Split(c.Example, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.Contains(l, "pocketdock") {
				t.Errorf("command %q: example line %q does not show a pocketdock invocation", c.CommandPath(), l)
			}
		}
	})
	if n < 30 {
		t.Fatalf("walked only %d commands: the tree is not what the CLI has", n)
	}
}

// `CMD --help` prints the examples and exits 0, for every command.
func TestEveryCommandHelpShowsExamples(t *testing.T) {
	walk(newTestRoot(), func(c *cobra.Command) {
		path := strings.Fields(c.CommandPath())[1:]
		var out, errb bytes.Buffer
		code := run(append(path, "--help"), &out, &errb)
		if code != 0 || !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%v --help: exit %d, stdout %q, stderr %q", path, code, out.String(), errb.String())
		}
	})
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash": "complete -o default -F __start_pocketdock pocketdock",
		"zsh":  "#compdef pocketdock",
		"fish": "complete -c pocketdock",
	} {
		var out, errb bytes.Buffer
		if code := run([]string{"completion", shell}, &out, &errb); code != 0 {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errb.String())
		}
		if !strings.Contains(out.String(), marker) {
			t.Errorf("completion %s: no %q in the %d-byte script", shell, marker, out.Len())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"completion", "tcsh"}, &out, &errb); code != 125 {
		t.Errorf("completion tcsh: exit %d, want 125", code)
	}
}

// The read commands of API.md take --json (profiles and status when present).
func TestReadCommandsTakeJSON(t *testing.T) {
	root := newTestRoot()
	for _, name := range []string{"list", "info", "top", "jobs", "images", "version", "doctor", "profiles", "status"} {
		c, _, err := root.Find([]string{name})
		if err != nil || c == root {
			if name == "profiles" || name == "status" {
				t.Logf("%s: not in this tree (added by another branch)", name)
				continue
			}
			t.Errorf("no command %q", name)
			continue
		}
		if c.Flags().Lookup("json") == nil {
			t.Errorf("%s has no --json", name)
		}
	}
}

// Docker habits: the aliases reach the right commands.
func TestDockerAliases(t *testing.T) {
	root := newTestRoot()
	for alias, want := range map[string]string{"ps": "list", "inspect": "info", "save": "export", "load": "import", "destroy": "rm"} {
		c, _, err := root.Find([]string{alias})
		if err != nil || c.Name() != want {
			t.Errorf("%s: found %v (%v), want %s", alias, c.Name(), err, want)
		}
	}
	load, _, _ := root.Find([]string{"load"})
	if load.Flags().ShorthandLookup("i") == nil {
		t.Error("load has no -i (docker load -i FILE)")
	}
	save, _, _ := root.Find([]string{"save"})
	if save.Flags().ShorthandLookup("o") == nil {
		t.Error("save has no -o (docker save -o FILE)")
	}
}

// Usage errors of the new commands are pocketdock's own failures (125),
// before anything is opened.
func TestTransferUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"export", "--all"},                      // no -o, stdout not a file here
		{"export", "-o", "x.tar"},                // neither --all nor images
		{"export", "--all", "img", "-o", "x"},    // both
		{"import", "a.tar", "-i", "b.tar"},       // both forms
		{"tag", "only-src"},                      // no DST
		{"logout"},                               // neither REGISTRY nor --all
		{"logout", "--all", "quay.io"},           // both
		{"login", "quay.io", "--password-stdin"}, // no user
		{"login", "quay.io", "-u", "me", "-p", "x", "--password-stdin"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 125 || !strings.HasPrefix(errb.String(), "pocketdock: ") {
			t.Errorf("%v: exit %d, stderr %q; want 125 and a pocketdock: message", args, code, errb.String())
		}
	}
}
