package pocketdock

import (
	"github.com/pocketdock/pocketdock/image/profiles"
)

// ProfileInfo describes one image profile: Name (minimal-python,
// minimal-node, minimal-bun, dev, agent, embedded), ImageTag (the image it
// builds, "docker.io/pocketdock/<name>:latest", which the short name
// pocketdock/<name> finds), Dockerfile (its text, shipped in the binary; FROM
// debian:bookworm-slim, user sandbox), NetworkDefault ("none" for minimal-*
// and agent, "bridge" for dev and embedded), Description (what is inside) and
// SizeEstimate (the built image, e.g. "~122 MB", measured with make profiles).
type ProfileInfo = profiles.Info

// ResolveProfile returns the profile called name. An unknown name is
// ErrInvalidArgument naming it and the six profiles.
func ResolveProfile(name string) (ProfileInfo, error) { return profiles.Resolve(name) }

// ListProfiles returns the six profiles: minimal-python, minimal-node,
// minimal-bun, dev, agent, embedded.
func ListProfiles() []ProfileInfo { return profiles.List() }

// withProfile applies Options.Profile to a copy of o: an empty Image becomes
// the profile's ImageTag, and then an empty Pull "never" (a profile's image
// is built locally with `pocketdock build NAME`, never looked up in a
// registry unless Pull asks for it); an empty Network becomes the profile's
// default when that is bridge (when it is none, "" already means none, or
// bridge with ports). hint is the build command for a missing profile image
// ("" without a profile). An unknown profile is ErrInvalidArgument.
func (o Options) withProfile() (out Options, hint string, err error) {
	if o.Profile == "" {
		return o, "", nil
	}
	p, err := profiles.Resolve(o.Profile)
	if err != nil {
		return o, "", err
	}
	if o.Image == "" {
		o.Image = p.ImageTag
		if o.Pull == "" {
			o.Pull = "never"
		}
		hint = "pocketdock build " + p.Name
	}
	if o.Network == "" && p.NetworkDefault == NetworkBridge {
		o.Network = NetworkBridge
	}
	return o, hint, nil
}
