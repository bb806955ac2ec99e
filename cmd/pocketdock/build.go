package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pocketdock/pocketdock"
)

// buildTarget is one build the `build` command runs.
type buildTarget struct {
	// what names it in messages (the context folder or the profile).
	what string
	opts pocketdock.BuildOptions
}

// profileBuild returns the build of profile name (its embedded Dockerfile
// as DockerfileText, its image tag in Tags), ok false when name is no
// profile. Profile names are resolved here, before a positional argument is
// taken as a context folder.
var profileBuild = func(name string) (opts pocketdock.BuildOptions, ok bool, err error) {
	p, err := pocketdock.ResolveProfile(name)
	if err != nil {
		return pocketdock.BuildOptions{}, false, nil
	}
	return pocketdock.BuildOptions{Dockerfile: "profile " + name, DockerfileText: []byte(p.Dockerfile), Tags: []string{p.ImageTag}}, true, nil
}

// allProfiles lists the profile names `build` builds when it gets no
// argument and no -f (all six, in ListProfiles order).
var allProfiles = func() []string {
	var out []string
	for _, p := range pocketdock.ListProfiles() {
		out = append(out, p.Name)
	}
	return out
}

// buildTargets turns the arguments into builds: with -f, or when the one
// argument is a folder and no profile, a Dockerfile build of that context
// ("." when none is given with -f); otherwise each argument must be a profile.
func buildTargets(args []string, file string, tags []string) ([]buildTarget, error) {
	if file != "" || (len(args) == 1 && isDir(args[0]) && !isProfile(args[0])) {
		if len(args) > 1 {
			return nil, fmt.Errorf("%w: one context folder, got %d arguments (%s)", pocketdock.ErrInvalidArgument, len(args), strings.Join(args, " "))
		}
		ctxDir := "."
		if len(args) == 1 {
			ctxDir = args[0]
		}
		return []buildTarget{{what: ctxDir, opts: pocketdock.BuildOptions{Dockerfile: file, ContextDir: ctxDir, Tags: tags}}}, nil
	}
	if len(args) == 0 {
		// No argument and no -f: a folder with a Dockerfile is built as
		// docker does ("."); anywhere else every profile is built.
		if fileExists("Dockerfile") {
			return []buildTarget{{what: ".", opts: pocketdock.BuildOptions{ContextDir: ".", Tags: tags}}}, nil
		}
		args = allProfiles()
		if len(tags) > 0 {
			return nil, fmt.Errorf("%w: -t without a context or profile: no Dockerfile in the current folder, and each of the %d profiles has its own tag", pocketdock.ErrInvalidArgument, len(args))
		}
	}
	var out []buildTarget
	for _, a := range args {
		opts, ok, err := profileBuild(a)
		if err != nil {
			return nil, err
		}
		if !ok && isDir(a) {
			return nil, fmt.Errorf("%w: %q is a context folder, which build takes alone (got %d arguments: %s); several arguments must all be profiles", pocketdock.ErrInvalidArgument, a, len(args), strings.Join(args, " "))
		}
		if !ok {
			return nil, fmt.Errorf("%w: %q is neither a profile nor a context folder", pocketdock.ErrInvalidArgument, a)
		}
		if len(tags) > 0 {
			if len(args) > 1 {
				return nil, fmt.Errorf("%w: -t with several profiles: each profile has its own tag", pocketdock.ErrInvalidArgument)
			}
			opts.Tags = tags
		}
		out = append(out, buildTarget{what: a, opts: opts})
	}
	return out, nil
}

func isProfile(name string) bool {
	_, ok, _ := profileBuild(name)
	return ok
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func newBuildCmd(g *globals) *cobra.Command {
	var (
		file, network, pull string
		tags, buildArgs     []string
		noCache, quiet      bool
		pruneCache          bool
	)
	cmd := &cobra.Command{
		Use:   "build [flags] [CONTEXT | PROFILE...]",
		Short: "Build an image from a Dockerfile (or a profile)",
		Long: `Build an image from a Dockerfile, like docker build.

CONTEXT is the folder COPY and ADD read (honouring its .dockerignore); the
Dockerfile is CONTEXT/Dockerfile unless -f names another. RUN steps run in
pocketdock containers on the host's network (--network none: loopback only).
Each RUN, COPY and ADD becomes one layer; a rebuild takes unchanged steps from
the layer cache ("--> cached"). Progress goes to stderr, the image ID to stdout.

PROFILE builds one of the six profiles (pocketdock profiles lists them) from
its Dockerfile in the binary, tagged pocketdock/NAME; several names build in
turn. With no argument and no -f, build takes the current folder when it has
a Dockerfile, else it builds all six profiles (what make profiles runs).
A profile's FROM debian:bookworm-slim is taken from the local store first
(import test/fixtures/out/debian-base.tar where no registry is reachable).

Supported: FROM (local, else pulled per --pull; AS name; scratch), RUN, COPY
(--from, --chown, --chmod), ADD (local tar archives are unpacked; an http(s)
URL is fetched by pocketdock on the host, --checksum=sha256|sha384|sha512:HEX
checks it),
ENV, ARG, USER, WORKDIR, SHELL, CMD, ENTRYPOINT, LABEL, EXPOSE, VOLUME,
HEALTHCHECK, STOPSIGNAL. Anything else fails before a step runs, naming its line.`,
		Example: `  pocketdock build minimal-python
  pocketdock build minimal-node minimal-bun
  pocketdock build            # no Dockerfile here: all six profiles
  pocketdock build -t myapp .
  pocketdock build -f docker/Dockerfile -t myapp:1 --build-arg VERSION=1.2 --network none ./src
  pocketdock build --no-cache -t myapp .
  pocketdock build --prune-cache`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if pruneCache {
				n, err := pocketdock.PruneBuildCache(cmd.Context(), g.root)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %d cached build images\n", n)
				if len(args) == 0 && file == "" {
					return nil
				}
			}
			bargs := map[string]string{}
			for _, kv := range buildArgs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					// docker takes the value from the environment then.
					v, ok = os.LookupEnv(k)
					if !ok {
						continue
					}
				}
				if k == "" {
					return fmt.Errorf("%w: --build-arg %q: want KEY=VALUE", pocketdock.ErrInvalidArgument, kv)
				}
				bargs[k] = v
			}
			targets, err := buildTargets(args, file, tags)
			if err != nil {
				return err
			}
			var progress io.Writer = cmd.ErrOrStderr()
			if quiet {
				progress = nil
			}
			for _, t := range targets {
				o := t.opts
				if o.Dockerfile == "-" {
					text, err := io.ReadAll(cmd.InOrStdin())
					if err != nil {
						return err
					}
					o.Dockerfile, o.DockerfileText = "Dockerfile (stdin)", text
				}
				o.Root, o.Network, o.BuildArgs, o.NoCache, o.Pull, o.Progress = g.root, network, bargs, noCache, pull, progress
				id, err := pocketdock.Build(cmd.Context(), o)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), id)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "the Dockerfile (default CONTEXT/Dockerfile; - reads it from stdin)")
	f.StringArrayVarP(&tags, "tag", "t", nil, "name the image (repeatable); \"app\" means localhost/app:latest")
	f.StringArrayVar(&buildArgs, "build-arg", nil, "set an ARG: KEY=VALUE (repeatable; KEY alone takes it from the environment)")
	f.StringVar(&network, "network", "host", "network of RUN steps: host or none")
	f.BoolVar(&noCache, "no-cache", false, "run every step instead of using the layer cache")
	f.StringVar(&pull, "pull", "missing", "pull policy of FROM images: missing, always, never")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the image ID")
	f.BoolVar(&pruneCache, "prune-cache", false, "remove the cached step images of earlier builds first")
	return cmd
}
