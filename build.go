package pocketdock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/pocketdock/pocketdock/image"
	"github.com/pocketdock/pocketdock/image/build"
	pdrt "github.com/pocketdock/pocketdock/runtime"
	"github.com/pocketdock/pocketdock/runtime/agent"
)

// BuildOptions say what Build builds.
type BuildOptions struct {
	// Root is the state root ("" = $POCKETDOCK_ROOT or the default).
	Root string
	// Dockerfile is the Dockerfile's path; "" means ContextDir/Dockerfile,
	// read inside the context (a symlink there may not lead out of it, as
	// .dockerignore's may not).
	Dockerfile string
	// DockerfileText, when non-nil, is the Dockerfile itself (Dockerfile is
	// then only its name in messages); profiles build this way.
	DockerfileText []byte
	// ContextDir is the build context: COPY and ADD sources and
	// .dockerignore. "" is allowed with DockerfileText when nothing is
	// copied from a context.
	ContextDir string
	// Tags name the result. A short name goes to localhost, as podman
	// names builds ("app" → localhost/app:latest, "pocketdock/minimal-python"
	// → localhost/pocketdock/minimal-python:latest, which short-name lookups
	// find first); a name with a registry is kept ("docker.io/x/y" →
	// docker.io/x/y:latest). A tag moves from any image that held it. No tag
	// leaves the image untagged: Build returns its ID, and `images` does not
	// list it (it is part of the build cache).
	Tags []string
	// Network is the RUN steps' network: "host" (the default, like
	// `docker build --network host`: apt and npm reach what the host
	// reaches) or "none" (loopback only).
	Network string
	// BuildArgs set ARG values over the Dockerfile's defaults (--build-arg).
	BuildArgs map[string]string
	// NoCache runs every step instead of taking it from the layer cache
	// (the new results still enter the cache).
	NoCache bool
	// Pull is the pull policy of FROM and COPY --from images: "missing"
	// (default), "always", "never".
	Pull string
	// Progress receives "STEP n/N: …" lines, "--> cached" and the RUN
	// steps' output (nil = discard).
	Progress io.Writer
}

// BuildError is a RUN step that failed: errors.As(err, &e) gives its line
// and exit code.
type BuildError = build.RunError

// BuildInstructionError is a Dockerfile instruction the builder refuses
// (unknown, unsupported or malformed), naming its line; it wraps
// ErrInvalidArgument and comes before any step runs.
type BuildInstructionError = build.InstructionError

// Build builds an image from a Dockerfile (see package image/build for what
// it supports) and returns the image ID; the image gets o.Tags. RUN steps
// run in pocketdock containers (removed afterwards, also on failure), each
// RUN, COPY and ADD becomes one layer, and a layer cache keyed on the parent
// image, the config, the ARG values, the instruction and the copied files'
// contents makes a rebuild quick. Errors: ErrInvalidArgument (a missing
// Dockerfile or context, a bad tag, network or pull policy, a missing COPY
// source; *BuildInstructionError for an instruction), ErrImageNotFound (a
// FROM image), *BuildError (a RUN that failed, with its exit code),
// ErrHostUnsupported (not root).
func Build(ctx context.Context, o BuildOptions) (string, error) {
	text := o.DockerfileText
	file := o.Dockerfile
	if text == nil {
		readFile := os.ReadFile
		if file == "" {
			if o.ContextDir == "" {
				return "", fmt.Errorf("build: %w: no Dockerfile and no context folder given", ErrInvalidArgument)
			}
			file = filepath.Join(o.ContextDir, "Dockerfile")
			readFile = func(string) ([]byte, error) { return build.ReadInContext(o.ContextDir, "Dockerfile") }
		}
		b, err := readFile(file)
		if err != nil && o.Dockerfile == "" && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("build: %w: Dockerfile %s: %v (CONTEXT/Dockerfile must be a file inside the context; a symlink may not lead out of it — name a Dockerfile elsewhere with -f)", ErrInvalidArgument, file, err)
		}
		if err != nil {
			return "", fmt.Errorf("build: %w: Dockerfile %s: %v", ErrInvalidArgument, file, err)
		}
		text = b
	}
	if file == "" {
		file = "Dockerfile"
	}
	m, err := manager(o.Root)
	if err != nil {
		return "", err
	}
	store, err := m.Images()
	if err != nil {
		return "", err
	}
	if _, err := removeStaleBuildContainers(ctx, m, o.Progress); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	id, err := build.Build(ctx, build.Options{
		Store: store, Runner: &buildRunner{m: m}, File: file, Dockerfile: text,
		ContextDir: o.ContextDir, Tags: o.Tags, Network: o.Network, BuildArgs: o.BuildArgs,
		NoCache: o.NoCache, Pull: image.PullPolicy(o.Pull), Progress: o.Progress,
	})
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	return id, nil
}

// PruneBuildCache removes the build cache of state root root ("" = default):
// the untagged step images of earlier builds that no container uses. It
// returns how many images it removed.
func PruneBuildCache(ctx context.Context, root string) (int, error) {
	s, err := imageStore(root)
	if err != nil {
		return 0, err
	}
	return s.PruneBuildCache()
}

// checkUserNetwork refuses the runtime's host network mode for containers
// made through Options (API.md: "none" or "bridge"); only the builder's RUN
// steps share the host's network namespace.
func checkUserNetwork(mode string) error {
	if mode == pdrt.NetworkHost {
		return fmt.Errorf("create: %w: network %q: want %q or %q (the host's network is for build RUN steps only)", ErrInvalidArgument, mode, pdrt.NetworkNone, pdrt.NetworkBridge)
	}
	return nil
}

// buildRunner runs RUN steps in pocketdock containers (build.Runner).
type buildRunner struct{ m *pdrt.Manager }

// buildContainer is a stopped RUN container (build.Container).
type buildContainer struct {
	m   *pdrt.Manager
	rec *pdrt.Record
}

// StorageID is the container's ID, also its containers/storage ID.
func (c *buildContainer) StorageID() string { return c.rec.ID }

// MountPoints are the container paths of its last start's mounts.
func (c *buildContainer) MountPoints() []string { return c.rec.MountPoints }

// Remove stops and deletes the container (gone already: no error).
func (c *buildContainer) Remove(ctx context.Context) error {
	err := c.m.Remove(ctx, c.rec, true, 0)
	if errors.Is(err, ErrContainerNotFound) || errors.Is(err, ErrContainerGone) {
		return nil
	}
	return err
}

// Run makes a container from req.Image (the image's ENTRYPOINT/CMD left
// unstarted, no-new-privileges off as in docker build), runs req.Argv as
// req.User in req.Workdir with req.Env, streams its output, then stops the
// container so nothing changes its files while the diff is taken.
func (r *buildRunner) Run(ctx context.Context, req build.RunRequest) (build.Container, int, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	rec, err := r.m.Create(ctx, pdrt.CreateOptions{
		Name: "pd-build-" + hex.EncodeToString(b[:]), Image: req.Image, Pull: image.PullNever,
		Timeout: -1, Env: req.Env, User: req.User, Workdir: req.Workdir, Network: req.Network,
		Labels: map[string]string{buildLabel: "true", buildOwnerLabel: buildOwner}, NoImageCmd: true,
	})
	if err != nil {
		return nil, 0, err
	}
	c := &buildContainer{m: r.m, rec: rec}
	fmt.Fprintf(req.Output, "--> running in %s\n", rec.ID[:12])
	fail := func(err error) (build.Container, int, error) {
		if rerr := c.Remove(context.WithoutCancel(ctx)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove build container %s: %w", rec.Name, rerr))
		}
		return nil, 0, err
	}
	var mu sync.Mutex
	write := func(p []byte) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = req.Output.Write(p)
	}
	p := rec.Process
	res, err := r.m.Exec(ctx, rec, agent.ExecRequest{Argv: req.Argv, Env: p.Env, Cwd: p.Cwd, UID: p.UID, GID: p.GID, Groups: p.Groups},
		agent.RunOptions{MaxOutput: 1, OnStdout: write, OnStderr: write})
	if err != nil {
		return fail(err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return fail(cerr)
	}
	if err := r.m.Stop(ctx, rec, true, 0); err != nil {
		return fail(err)
	}
	return c, res.ExitCode, nil
}
