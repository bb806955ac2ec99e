package pocketdock

import (
	"context"
	"io"

	"github.com/pocketdock/pocketdock/image/build"
)

// BuildProfile builds profile name (see ListProfiles) into its image tag
// (ProfileInfo.ImageTag, e.g. docker.io/pocketdock/minimal-python:latest)
// in state root root ("" = $POCKETDOCK_ROOT or the default) and returns the
// image ID. Its FROM debian:bookworm-slim is taken from the local store when
// present, else pulled; RUN steps use the host's network; unchanged steps
// come from the layer cache. progress receives the build's STEP lines and
// RUN output (nil = discard). Errors: ErrInvalidArgument (an unknown
// profile, naming the six), and those of Build.
func BuildProfile(ctx context.Context, root, name string, progress io.Writer) (string, error) {
	p, err := ResolveProfile(name)
	if err != nil {
		return "", err
	}
	return Build(ctx, BuildOptions{Root: root, Dockerfile: "profile " + p.Name,
		DockerfileText: []byte(p.Dockerfile), Tags: []string{p.ImageTag}, Progress: progress})
}

// BuildChecksumError is an `ADD --checksum=… URL` whose downloaded content
// has another digest: errors.As(err, &e) gives the URL and both digests. It
// wraps ErrInvalidArgument; the build stops before the step's layer is made.
type BuildChecksumError = build.ChecksumError
