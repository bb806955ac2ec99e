package profiles

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/pocketdock/pocketdock/image"
)

var wantNames = []string{"minimal-python", "minimal-node", "minimal-bun", "dev", "agent", "embedded"}

// supported are the instructions pocketdock's builder runs (API.md, issue 7).
var supported = []string{"from", "run", "copy", "add", "env", "arg", "user", "workdir", "shell",
	"cmd", "entrypoint", "label", "expose"}

func TestListHasAllSix(t *testing.T) {
	list := List()
	var got []string
	for _, p := range list {
		got = append(got, p.Name)
	}
	if !slices.Equal(got, wantNames) {
		t.Fatalf("List names = %v, want %v", got, wantNames)
	}
	if !slices.Equal(Names(), wantNames) {
		t.Fatalf("Names = %v, want %v", Names(), wantNames)
	}
	for _, p := range list {
		if p.ImageTag != "docker.io/pocketdock/"+p.Name+":latest" {
			t.Errorf("%s: ImageTag %q", p.Name, p.ImageTag)
		}
		if p.Description == "" || len(p.Dockerfile) == 0 {
			t.Errorf("%s: empty description or Dockerfile", p.Name)
		}
		if !strings.HasPrefix(p.SizeEstimate, "~") || !strings.HasSuffix(p.SizeEstimate, " MB") && !strings.HasSuffix(p.SizeEstimate, " GB") {
			t.Errorf("%s: SizeEstimate %q, want like \"~180 MB\"", p.Name, p.SizeEstimate)
		}
		want := NetworkNone
		if p.Name == "dev" || p.Name == "embedded" {
			want = NetworkBridge
		}
		if p.NetworkDefault != want {
			t.Errorf("%s: NetworkDefault %q, want %q", p.Name, p.NetworkDefault, want)
		}
		r, err := Resolve(p.Name)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", p.Name, err)
		}
		if r.Name != p.Name || r.ImageTag != p.ImageTag || r.Dockerfile != p.Dockerfile {
			t.Errorf("Resolve(%q) = %+v, differs from List", p.Name, r)
		}
		if !IsProfile(p.Name) {
			t.Errorf("IsProfile(%q) = false", p.Name)
		}
	}
}

func TestResolveUnknown(t *testing.T) {
	for _, name := range []string{"", "nope", "Minimal-Python", "minimal-python ", "pocketdock/minimal-python"} {
		_, err := Resolve(name)
		if !errors.Is(err, image.ErrInvalidArgument) {
			t.Fatalf("Resolve(%q) = %v, want ErrInvalidArgument", name, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, `"`+name+`"`) {
			t.Errorf("Resolve(%q): error %q does not quote the name", name, msg)
		}
		for _, n := range wantNames {
			if !strings.Contains(msg, n) {
				t.Errorf("Resolve(%q): error %q does not list %s", name, msg, n)
			}
		}
		if IsProfile(name) {
			t.Errorf("IsProfile(%q) = true", name)
		}
	}
}

// TestDockerfiles parses each Dockerfile with buildkit's parser and checks the
// rules every profile keeps.
func TestDockerfiles(t *testing.T) {
	for _, p := range List() {
		t.Run(p.Name, func(t *testing.T) {
			res, err := parser.Parse(strings.NewReader(p.Dockerfile))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			for _, w := range res.Warnings {
				t.Errorf("parser warning: %s", w.Short)
			}
			nodes := res.AST.Children
			if len(nodes) == 0 {
				t.Fatal("no instructions")
			}
			var froms, users, stages []string
			var workdir string
			for _, n := range nodes {
				cmd := strings.ToLower(n.Value) // the parser keeps the case as written
				if !slices.Contains(supported, cmd) {
					t.Errorf("line %d: instruction %q is not supported by the builder", n.StartLine, n.Value)
				}
				if len(n.Heredocs) > 0 {
					t.Errorf("line %d: heredoc", n.StartLine)
				}
				for _, f := range n.Flags {
					// Allowed: ADD --checksum of a URL, COPY --from an earlier stage.
					switch {
					case cmd == "add" && strings.HasPrefix(f, "--checksum=sha512:"):
						if !strings.HasPrefix(n.Next.Value, "https://") {
							t.Errorf("line %d: ADD --checksum of %q, want an https URL", n.StartLine, n.Next.Value)
						}
					case cmd == "copy" && strings.HasPrefix(f, "--from="):
						if !slices.Contains(stages, strings.TrimPrefix(f, "--from=")) {
							t.Errorf("line %d: %s names no earlier stage (%v)", n.StartLine, f, stages)
						}
					default:
						t.Errorf("line %d: flag %s (only ADD --checksum=sha512: and COPY --from=<stage>)", n.StartLine, f)
					}
				}
				if cmd == "add" && len(n.Flags) == 0 {
					t.Errorf("line %d: ADD without --checksum", n.StartLine)
				}
				switch cmd {
				case "from":
					froms = append(froms, n.Next.Value)
					if n.Next.Next != nil && strings.EqualFold(n.Next.Next.Value, "as") && n.Next.Next.Next != nil {
						stages = append(stages, n.Next.Next.Next.Value)
					}
				case "user":
					users = append(users, n.Next.Value)
				case "workdir":
					workdir = n.Next.Value
				case "run":
					text := n.Original
					if strings.Contains(text, "apt-get install") {
						if !strings.Contains(text, "--no-install-recommends") {
							t.Errorf("line %d: apt-get install without --no-install-recommends", n.StartLine)
						}
						if !strings.Contains(text, "rm -rf /var/lib/apt/lists/*") {
							t.Errorf("line %d: apt lists not removed in the same step", n.StartLine)
						}
					}
				}
			}
			// One stage FROM debian:bookworm-slim; or (minimal-bun) stages
			// before it FROM debian:bookworm-slim or an earlier stage.
			if froms[len(froms)-1] != "debian:bookworm-slim" {
				t.Errorf("FROM lines %v, want the last to be FROM debian:bookworm-slim", froms)
			}
			for i, f := range froms {
				if f != "debian:bookworm-slim" && !slices.ContainsFunc(stages[:min(i, len(stages))], func(s string) bool {
					return f == s || strings.HasPrefix(f, strings.TrimSuffix(s, "amd64")+"${")
				}) {
					t.Errorf("FROM %s: neither debian:bookworm-slim nor an earlier stage (%v)", f, stages)
				}
			}
			if p.Name != "minimal-bun" && len(froms) != 1 {
				t.Errorf("FROM lines %v, want exactly one", froms)
			}
			if first := strings.ToLower(nodes[0].Value); first != "from" && first != "arg" {
				t.Errorf("first instruction %q, want FROM or ARG", nodes[0].Value)
			}
			if len(users) == 0 || users[len(users)-1] != "sandbox" {
				t.Errorf("USER lines %v, want the last to be sandbox", users)
			}
			if workdir != "/home/sandbox" {
				t.Errorf("WORKDIR %q, want /home/sandbox", workdir)
			}
			text := p.Dockerfile
			for _, want := range []string{"--uid 1000", "--gid 1000", "--groups dialout", "--home-dir /home/sandbox", "sandbox"} {
				if !strings.Contains(text, want) {
					t.Errorf("no %q in the Dockerfile (the sandbox user)", want)
				}
			}
		})
	}
}

// TestSameUserStep checks that every profile makes the sandbox user with the
// same first RUN of its last stage, so a builder's layer cache shares it
// between profiles.
func TestSameUserStep(t *testing.T) {
	var first string
	for _, p := range List() {
		res, err := parser.Parse(strings.NewReader(p.Dockerfile))
		if err != nil {
			t.Fatal(err)
		}
		var run string
		nodes := res.AST.Children
		for i, n := range nodes {
			if strings.EqualFold(n.Value, "from") {
				nodes = res.AST.Children[i:] // the last stage
			}
		}
		for _, n := range nodes {
			cmd := strings.ToLower(n.Value)
			if cmd == "run" {
				run = n.Original
				break
			}
			if cmd != "from" && cmd != "arg" {
				t.Errorf("%s: %s before the first RUN", p.Name, n.Value)
			}
		}
		if !strings.Contains(run, "useradd") {
			t.Errorf("%s: first RUN %q does not make the user", p.Name, run)
		}
		if first == "" {
			first = run
		} else if run != first {
			t.Errorf("%s: first RUN differs from minimal-python's:\n%s\n%s", p.Name, run, first)
		}
	}
}
