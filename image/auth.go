package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/pkg/docker/config"
	imgtypes "go.podman.io/image/v5/types"
)

// Environment variables choosing the registry auth file, as podman reads them.
const (
	// AuthFileEnv names an auth.json to read and write instead of the default.
	AuthFileEnv = "REGISTRY_AUTH_FILE"
	// dockerConfigEnv names a folder holding a docker config.json (docker's
	// DOCKER_CONFIG), used when AuthFileEnv is unset.
	dockerConfigEnv = "DOCKER_CONFIG"
)

// ErrNotLoggedIn: Logout of a registry that has no stored credentials.
var ErrNotLoggedIn = config.ErrNotLoggedIn

// applyAuthFile points sys at the auth file podman uses: $REGISTRY_AUTH_FILE
// when set, else $DOCKER_CONFIG/config.json when DOCKER_CONFIG is set, else
// containers/image's default (written: ${XDG_RUNTIME_DIR}/containers/auth.json,
// or /run/containers/<uid>/auth.json without XDG_RUNTIME_DIR; read as well:
// $XDG_CONFIG_HOME/containers/auth.json, ~/.docker/config.json,
// ~/.dockercfg). Pulls, Login and Logout all use it.
func applyAuthFile(sys *imgtypes.SystemContext) {
	if f := os.Getenv(AuthFileEnv); f != "" {
		sys.AuthFilePath = f
	} else if d := os.Getenv(dockerConfigEnv); d != "" {
		sys.DockerCompatAuthFilePath = filepath.Join(d, "config.json")
	}
}

// registryKey normalizes what a user types after `login`/`logout`: an
// optional http(s):// scheme and trailing "/" are dropped, docker's
// index.docker.io spellings mean docker.io; the result is a registry
// host[:port], optionally followed by a namespace or repository path
// (credentials scoped to it). Returns the key and its registry host.
func registryKey(arg string) (key, registry string, err error) {
	k := strings.TrimSpace(arg)
	for _, p := range []string{"https://", "http://"} {
		k = strings.TrimPrefix(k, p)
	}
	k = strings.TrimRight(k, "/")
	switch k {
	case "index.docker.io/v1", "index.docker.io", "registry-1.docker.io":
		k = "docker.io"
	}
	bad := func(why string) error {
		return fmt.Errorf("registry %q: %w: %s (want a registry host[:port], optionally with /namespace[/repo], like quay.io or localhost:5000)", arg, ErrInvalidArgument, why)
	}
	if k == "" {
		return "", "", bad("empty")
	}
	registry, _, _ = strings.Cut(k, "/")
	named, perr := reference.ParseNormalizedNamed(registry + "/x")
	if perr != nil || reference.Domain(named) != registry {
		return "", "", bad("not a registry host name")
	}
	if strings.Contains(k, "/") {
		named, perr := reference.ParseNormalizedNamed(k)
		if perr != nil {
			return "", "", bad(perr.Error())
		}
		if _, ok := named.(reference.Tagged); ok {
			return "", "", bad("a tag is not a registry")
		}
		if _, ok := named.(reference.Digested); ok {
			return "", "", bad("a digest is not a registry")
		}
	}
	return k, registry, nil
}

// authContext returns a copy of the store's SystemContext for talking to
// registry: registries on localhost, 127.0.0.1 and [::1] may be plain HTTP,
// as for pulls.
func (s *Store) authContext(registry string) *imgtypes.SystemContext {
	sys := s.sys
	if isLoopbackRegistry(registry) {
		sys.DockerInsecureSkipTLSVerify = imgtypes.OptionalBoolTrue
	}
	return &sys
}

// Login checks username and password against the registry (its /v2/
// endpoint, with the registry's own auth challenge: Basic or a bearer token
// service), and on success stores them in the auth file that pulls read
// (see applyAuthFile; credential helpers configured in registries.conf are
// honoured, as podman does). registry is normalized by registryKey:
// "https://index.docker.io/v1/" → "docker.io", "localhost:5000",
// "quay.io/myorg" (credentials for that namespace only). Returns the
// normalized key. Errors: ErrInvalidArgument for a malformed registry or an
// empty username or password; the registry's refusal (wrapping
// docker.ErrUnauthorizedForCredentials) or a connection error, with nothing
// stored; errors writing the auth file, naming it.
func (s *Store) Login(ctx context.Context, registry, username, password string) (string, error) {
	key, host, err := registryKey(registry)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	if username == "" || password == "" {
		return "", fmt.Errorf("login %s: %w: empty username or password", key, ErrInvalidArgument)
	}
	sys := s.authContext(host)
	if err := docker.CheckAuth(ctx, sys, username, password, host); err != nil {
		return "", fmt.Errorf("login %s: %w", key, err)
	}
	if _, err := config.SetCredentials(sys, key, username, password); err != nil {
		return "", fmt.Errorf("login %s: storing credentials: %w", key, err)
	}
	return key, nil
}

// Logout removes the stored credentials of registry (normalized like Login)
// from the auth file and credential helpers, or, with all, every stored
// credential. Errors: ErrNotLoggedIn when registry has none;
// ErrInvalidArgument for a malformed registry, or a registry given with all.
func (s *Store) Logout(registry string, all bool) error {
	if all {
		if registry != "" {
			return fmt.Errorf("logout: %w: give a registry or all, not both", ErrInvalidArgument)
		}
		sys := s.sys
		if err := config.RemoveAllAuthentication(&sys); err != nil {
			return fmt.Errorf("logout: %w", err)
		}
		return nil
	}
	key, host, err := registryKey(registry)
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	if err := config.RemoveAuthentication(s.authContext(host), key); err != nil {
		if errors.Is(err, config.ErrNotLoggedIn) {
			return fmt.Errorf("logout %s: %w", key, ErrNotLoggedIn)
		}
		return fmt.Errorf("logout %s: %w", key, err)
	}
	return nil
}
