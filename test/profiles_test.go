package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pocketdock/pocketdock"
)

// debianBaseFixture returns the path of debian-base.tar, skipping the test
// (failing it under CI) when make fixtures has not made it.
func debianBaseFixture(t *testing.T) string {
	t.Helper()
	needRoot(t)
	p := filepath.Join(fixturesDir(), "debian-base.tar")
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("fixture %s missing: run `make fixtures` first", p)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// The offline base of the profiles imports as debian:bookworm-slim into a
// fresh root and runs: Debian bookworm minbase with apt, user root, no Python.
func TestDebianBaseFixture(t *testing.T) {
	fixture := debianBaseFixture(t)
	root, err := os.MkdirTemp("", "pd-it-base-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupRoot(root) })
	ctx := context.Background()
	imgs, err := pocketdock.ImportImage(ctx, root, fixture, "", nil)
	if err != nil {
		t.Fatalf("import %s: %v", fixture, err)
	}
	if len(imgs) != 1 || !slices.Equal(imgs[0].Names, []string{"docker.io/library/debian:bookworm-slim"}) {
		t.Fatalf("imported %+v, want one image named docker.io/library/debian:bookworm-slim", imgs)
	}
	c, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Root: root, Image: "debian:bookworm-slim", Pull: "never"})
	if err != nil {
		t.Fatalf("create from debian:bookworm-slim: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Destroy(context.Background()); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	res, err := c.Run(ctx, `. /etc/os-release; echo "$VERSION_CODENAME"; id -u; pwd; command -v apt-get; command -v bash; command -v python3 || command -v python3.11 || echo no-python`)
	if err != nil {
		t.Fatal(err)
	}
	want := "bookworm\n0\n/\n/usr/bin/apt-get\n/usr/bin/bash\nno-python\n"
	if res.ExitCode != 0 || res.Stdout != want {
		t.Fatalf("run: exit %d, stdout %q (want %q), stderr %q", res.ExitCode, res.Stdout, want, res.Stderr)
	}
	// The apt sources a Dockerfile's apt-get update reads (no network here: only the file).
	res, err = c.Run(ctx, `grep -h '^Suites:' /etc/apt/sources.list.d/debian.sources`)
	if err != nil || res.Stdout != "Suites: bookworm bookworm-updates\nSuites: bookworm-security\n" {
		t.Fatalf("apt sources: %v %+v", err, res)
	}
}

// Profile minimal-python picks the fixture image (the profile's tag) and
// network none, with no Pull given (a profile's image is never pulled).
func TestCreateWithProfile(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	c, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Root: stateRoot, Profile: "minimal-python"})
	if err != nil {
		t.Fatalf("create --profile minimal-python: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Destroy(context.Background()); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pocketdock.ResolveProfile("minimal-python")
	if err != nil {
		t.Fatal(err)
	}
	if info.Image != p.ImageTag || info.Network != pocketdock.NetworkNone {
		t.Fatalf("image %q network %q, want %q and none", info.Image, info.Network, p.ImageTag)
	}
	res, err := c.Run(ctx, `id -un; id -Gn; pwd; python3 -c 'print(1)'`)
	if err != nil || res.ExitCode != 0 || res.Stdout != "sandbox\nsandbox dialout\n/home/sandbox\n1\n" {
		t.Fatalf("run: %v %+v", err, res)
	}
}

// The network default of a profile: bridge for dev (with an explicit Image,
// which wins over the profile's); ports turn a none profile into bridge; an
// explicit Network wins over the profile's.
func TestProfileNetworkDefault(t *testing.T) {
	cases := []struct {
		name        string
		opts        pocketdock.Options
		image, netw string
	}{
		{"dev-explicit-image", pocketdock.Options{Profile: "dev", Image: busyboxImage}, busyboxImage, pocketdock.NetworkBridge},
		{"dev-network-none", pocketdock.Options{Profile: "dev", Image: busyboxImage, Network: "none"}, busyboxImage, pocketdock.NetworkNone},
		{"python-ports", pocketdock.Options{Profile: "minimal-python", PortMappings: []pocketdock.PortMapping{{ContainerPort: 8080}}},
			"docker.io/pocketdock/minimal-python:latest", pocketdock.NetworkBridge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newContainer(t, tc.opts)
			info, err := c.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if info.Image != tc.image || info.Network != tc.netw {
				t.Fatalf("image %q network %q, want %q %q", info.Image, info.Network, tc.image, tc.netw)
			}
		})
	}
}

// A bad profile name is ErrInvalidArgument naming it and the six profiles,
// and leaves nothing behind; a known profile whose image is not built is
// ErrImageNotFound with the build hint, and is not pulled.
func TestCreateBadProfile(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	before := rootState(t)
	_, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Root: stateRoot, Profile: "nope", Name: "bad-profile"})
	if !errors.Is(err, pocketdock.ErrInvalidArgument) {
		t.Fatalf("create with profile nope: %v, want ErrInvalidArgument", err)
	}
	for _, want := range []string{`"nope"`, "minimal-python", "minimal-node", "minimal-bun", "dev", "agent", "embedded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %s", err, want)
		}
	}
	_, err = pocketdock.CreateNewContainer(ctx, pocketdock.Options{Root: stateRoot, Profile: "embedded", Name: "unbuilt-profile"})
	if !errors.Is(err, pocketdock.ErrImageNotFound) || !strings.Contains(err.Error(), "pocketdock build embedded") {
		t.Fatalf("create with the unbuilt profile embedded: %v, want ErrImageNotFound with the hint pocketdock build embedded", err)
	}
	if strings.Contains(err.Error(), "pull") && !strings.Contains(err.Error(), "never") {
		t.Errorf("the profile image was pulled: %v", err)
	}
	if left := diffState(before, rootState(t)); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	// The same through the CLI: exit 125 and the message.
	_, errs, code := cli(t, "create", "--profile", "nope", "--name", "bad-profile")
	if code != 125 || !strings.Contains(errs, `profile "nope"`) || !strings.Contains(errs, "minimal-python") {
		t.Fatalf("cli create --profile nope: exit %d, stderr %q", code, errs)
	}
	if left := diffState(before, rootState(t)); len(left) > 0 {
		t.Fatalf("left behind by the CLI: %v", left)
	}
}

// pocketdock profiles --json lists the six; create --profile uses one.
func TestCLIProfiles(t *testing.T) {
	needRoot(t)
	out, errs, code := cli(t, "profiles", "--json")
	if code != 0 {
		t.Fatalf("profiles --json: exit %d %s", code, errs)
	}
	var list []map[string]string
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("profiles --json: %v: %s", err, out)
	}
	var names []string
	for _, p := range list {
		names = append(names, p["name"])
		if p["image_tag"] == "" || p["network_default"] == "" || p["size_estimate"] == "" || p["description"] == "" {
			t.Errorf("profile %v lacks a field", p)
		}
	}
	if !slices.Equal(names, []string{"minimal-python", "minimal-node", "minimal-bun", "dev", "agent", "embedded"}) {
		t.Fatalf("profiles --json names %v", names)
	}
	out, _, code = cli(t, "profiles", "minimal-bun", "--dockerfile")
	if code != 0 || !strings.HasPrefix(strings.TrimLeft(strings.SplitN(out, "\nFROM", 2)[0], "#"), " pocketdock profile minimal-bun") || !strings.Contains(out, "FROM debian:bookworm-slim\n") {
		t.Fatalf("profiles minimal-bun --dockerfile: exit %d: %q", code, out)
	}

	name := "cli-profile"
	out, errs, code = cli(t, "create", "--profile", "minimal-python", "--name", name)
	if code != 0 || strings.TrimSpace(out) != name {
		t.Fatalf("create --profile minimal-python: exit %d %q %q", code, out, errs)
	}
	t.Cleanup(func() { cli(t, "rm", name) })
	out, errs, code = cli(t, "info", name, "--json")
	if code != 0 {
		t.Fatalf("info: exit %d %s", code, errs)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	if info["image"] != "docker.io/pocketdock/minimal-python:latest" || info["network"] != "none" {
		t.Fatalf("info: image %v network %v", info["image"], info["network"])
	}
}
