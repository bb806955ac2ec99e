// Package profiles holds pocketdock's six image profiles: a Dockerfile each,
// embedded in the binary, with the image tag it builds, the network a
// container of it gets by default, a description and a size estimate.
//
// Every Dockerfile starts FROM debian:bookworm-slim (test/fixtures/out/
// debian-base.tar stands in for it where no registry is reachable), installs
// with apt (--no-install-recommends, lists removed in the same step), makes
// the user sandbox (uid 1000, group sandbox 1000, also in dialout) with home
// /home/sandbox as the working directory, and ends with USER sandbox. They
// use only FROM, ARG, RUN, ENV, WORKDIR, USER and LABEL, and minimal-bun
// also ADD --checksum of a URL and COPY --from of earlier stages, so
// pocketdock's own builder (and docker) builds them; RUN steps reach the
// Debian mirror, and minimal-bun's ADD registry.npmjs.org (fetched on the
// host, so a proxy's CA the host trusts works).
package profiles

import (
	"embed"
	"fmt"
	"slices"
	"strings"

	"github.com/pocketdock/pocketdock/image"
)

// Network defaults of a profile (the values of Options.Network).
const (
	// NetworkNone: a network namespace with loopback only.
	NetworkNone = "none"
	// NetworkBridge: an address on pocketdock's bridge with egress.
	NetworkBridge = "bridge"
)

// Info describes one profile.
type Info struct {
	// Name is the profile's name: minimal-python, minimal-node, minimal-bun,
	// dev, agent or embedded.
	Name string
	// ImageTag is the image the profile builds, as the image store names it:
	// "docker.io/pocketdock/<name>:latest" (the short form pocketdock/<name>
	// resolves to it, and the minimal-python test fixture carries the same name).
	ImageTag string
	// Dockerfile is the profile's Dockerfile text (its build context is empty:
	// no COPY or ADD from a context; minimal-bun ADDs a URL).
	Dockerfile string
	// NetworkDefault is the network a container of the profile gets when
	// Options.Network is "": "none" for minimal-* and agent, "bridge" for dev
	// and embedded.
	NetworkDefault string
	// Description says in one line what is inside.
	Description string
	// SizeEstimate is the built image's size, human-readable ("~122 MB",
	// decimal units, uncompressed layers as podman images shows them, the
	// 77 MB base included), measured with pocketdock build (make profiles)
	// on amd64; podman build gave the same sizes.
	SizeEstimate string
}

//go:embed dockerfiles/*.Dockerfile
var files embed.FS

// profile is one row of the table below; the Dockerfile comes from files.
type profile struct {
	name, network, description, size string
}

// table lists the profiles in the order List returns them.
var table = []profile{
	{"minimal-python", NetworkNone, "Python 3 and bash on Debian bookworm (the default image)", "~122 MB"},
	{"minimal-node", NetworkNone, "Node.js 18 (Debian's nodejs) on Debian bookworm", "~176 MB"},
	{"minimal-bun", NetworkNone, "Bun 1.4 (from the npm registry) on Debian bookworm", "~185 MB"},
	{"dev", NetworkBridge, "git, curl, build-essential, Python 3 with pip and venv, Node.js with npm, vim-tiny", "~688 MB"},
	{"agent", NetworkNone, "Python 3 with requests, httpx, beautifulsoup4, lxml, pandas, numpy, PyYAML, toml, Pillow; curl, git", "~423 MB"},
	{"embedded", NetworkBridge, "gcc, g++, make, cmake, ninja, gdb-multiarch, strace, arm-none-eabi gcc with newlib, picocom, Python 3", "~1.3 GB"},
}

// ImageTag returns the image tag of profile name: "docker.io/pocketdock/" +
// name + ":latest". It does not check that the profile exists.
func ImageTag(name string) string { return "docker.io/pocketdock/" + name + ":latest" }

// Names returns the profile names in List order.
func Names() []string {
	out := make([]string, len(table))
	for i, p := range table {
		out[i] = p.name
	}
	return out
}

// Resolve returns the profile called name (exact, lower case). An unknown
// name is an error wrapping image.ErrInvalidArgument that quotes it and
// lists the profiles.
func Resolve(name string) (Info, error) {
	for _, p := range table {
		if p.name == name {
			return p.info(), nil
		}
	}
	return Info{}, fmt.Errorf("profile %q: %w: unknown profile (want one of %s)",
		name, image.ErrInvalidArgument, strings.Join(Names(), ", "))
}

// List returns all six profiles: minimal-python, minimal-node, minimal-bun,
// dev, agent, embedded.
func List() []Info {
	out := make([]Info, 0, len(table))
	for _, p := range table {
		out = append(out, p.info())
	}
	return out
}

// IsProfile reports whether name is one of the profiles.
func IsProfile(name string) bool { return slices.Contains(Names(), name) }

func (p profile) info() Info {
	data, err := files.ReadFile("dockerfiles/" + p.name + ".Dockerfile")
	if err != nil { // every row has its file; the unit tests check it
		panic("profiles: " + err.Error())
	}
	return Info{Name: p.name, ImageTag: ImageTag(p.name), Dockerfile: string(data),
		NetworkDefault: p.network, Description: p.description, SizeEstimate: p.size}
}
