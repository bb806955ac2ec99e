package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/signature"
	istorage "go.podman.io/image/v5/storage"
	imgtypes "go.podman.io/image/v5/types"
)

// PullPolicy says when Resolve pulls an image from its registry.
type PullPolicy string

const (
	// PullMissing pulls only when no local image matches (the default).
	PullMissing PullPolicy = "missing"
	// PullAlways pulls every time, even when a local image matches.
	PullAlways PullPolicy = "always"
	// PullNever never pulls: the image must be local.
	PullNever PullPolicy = "never"
)

// ParsePullPolicy parses a pull policy name: "missing" (also ""), "always" or
// "never", case-insensitively. Anything else is ErrInvalidArgument naming the
// value and the allowed ones.
func ParsePullPolicy(s string) (PullPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", string(PullMissing):
		return PullMissing, nil
	case string(PullAlways):
		return PullAlways, nil
	case string(PullNever):
		return PullNever, nil
	}
	return "", fmt.Errorf("pull policy %q: %w (allowed: missing, always, never)", s, ErrInvalidArgument)
}

// Resolve returns the image ref names, pulling it under policy (""
// means PullMissing). The local lookup follows the rules of Image; with
// PullMissing and PullNever a local match is returned without any network
// access. Pulls write progress to progress when it is non-nil. Errors:
// ErrImageNotFound (wrapping the lookup or pull error) when there is no local
// image afterwards — with PullNever, or after a failed pull; with PullAlways
// a failed pull of an image that exists locally is returned as the pull
// error; ErrInvalidArgument for a bad policy or malformed ref.
func (s *Store) Resolve(ctx context.Context, ref string, policy PullPolicy, progress io.Writer) (*Image, error) {
	policy, err := ParsePullPolicy(string(policy))
	if err != nil {
		return nil, err
	}
	if policy != PullAlways {
		img, err := s.Image(ref)
		if err == nil || !errors.Is(err, ErrImageNotFound) || policy == PullNever {
			return img, err
		}
		// An image ID names nothing in a registry.
		if id := strings.TrimPrefix(strings.TrimPrefix(ref, "docker://"), "sha256:"); len(id) == 64 && isHex(id) {
			return nil, err
		}
	}
	return s.Pull(ctx, ref, progress)
}

// Pull copies ref from its registry (docker transport; an optional
// "docker://" prefix is accepted) into the store and returns the stored
// image. A short name is tried at each short-name alias / unqualified-search
// registry of registries.conf in turn, or at docker.io when none is
// configured; a missing tag means "latest". Registries on localhost,
// 127.0.0.1 or [::1] (any port) may answer over plain HTTP or with
// unverified TLS. Progress goes to progress when non-nil. Errors:
// ErrImageNotFound wrapping the pull error(s) when the pull failed and no
// such image is local; the pull error itself when a local image exists;
// ErrInvalidArgument for a malformed ref or an image ID (IDs cannot be
// pulled); ctx cancellation stops the copy.
func (s *Store) Pull(ctx context.Context, ref string, progress io.Writer) (*Image, error) {
	name := strings.TrimPrefix(ref, "docker://")
	if name == "" {
		return nil, fmt.Errorf("pull %q: %w: empty reference (want [registry/]repo[:tag|@digest])", ref, ErrInvalidArgument)
	}
	if id := strings.TrimPrefix(name, "sha256:"); len(id) == 64 && isHex(id) {
		return nil, fmt.Errorf("pull %q: %w: an image ID cannot be pulled (want [registry/]repo[:tag|@digest])", ref, ErrInvalidArgument)
	}
	if _, err := reference.ParseNormalizedNamed(name); err != nil {
		return nil, fmt.Errorf("pull %q: %w: %v (want [registry/]repo[:tag|@digest])", ref, ErrInvalidArgument, err)
	}
	var cands []reference.Named
	if isShortName(name) {
		cands = s.shortNameCandidates(name, false)
	} else {
		n, _ := reference.ParseNormalizedNamed(name)
		cands = []reference.Named{reference.TagNameOnly(n)}
	}

	pc, err := s.policyContext()
	if err != nil {
		return nil, fmt.Errorf("pull %q: %w", ref, err)
	}
	defer func() { _ = pc.Destroy() }()

	var errs []error
	for _, named := range cands {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		err := s.pullOne(ctx, pc, named, progress)
		if err == nil {
			img, lerr := s.lookup(named.String())
			if lerr != nil {
				return nil, fmt.Errorf("pull %q: pulled %s but cannot find it: %w", ref, named, lerr)
			}
			return s.describe(img)
		}
		errs = append(errs, fmt.Errorf("pull %s: %w", named, err))
	}
	pullErr := errors.Join(errs...)
	if _, lerr := s.lookup(name); lerr != nil {
		return nil, notFound(ref, pullErr)
	}
	return nil, pullErr
}

// pullOne copies one fully qualified reference from its registry.
func (s *Store) pullOne(ctx context.Context, pc *signature.PolicyContext, named reference.Named, progress io.Writer) error {
	src, err := docker.NewReference(named)
	if err != nil {
		return err
	}
	dst, err := istorage.Transport.NewStoreReference(s.store, named, "")
	if err != nil {
		return err
	}
	sys := s.sys
	if isLoopbackRegistry(reference.Domain(named)) {
		sys.DockerInsecureSkipTLSVerify = imgtypes.OptionalBoolTrue
	}
	return s.guardCopy(func() error {
		_, err := copy.Image(ctx, pc, dst, src, &copy.Options{
			ReportWriter:   progress,
			SourceCtx:      &sys,
			DestinationCtx: &sys,
		})
		return err
	})
}

// isLoopbackRegistry reports whether a registry host[:port] is localhost,
// 127.0.0.1 or [::1].
func isLoopbackRegistry(domain string) bool {
	host := domain
	if h, _, err := net.SplitHostPort(domain); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
