// Package devices passes host devices (serial ports, USB adapters, block
// devices) into a container: the host's device node is bind-mounted (never
// made with mknod: a pty slave made with mknod returns EIO), the cgroup gets
// an allow rule for its major:minor (v1 devices.allow; on v2 libcontainer
// builds the eBPF device filter from the same OCI rules), and the node's
// group is added to the supplementary groups of every command, so a
// non-root image user (sandbox, in group dialout) can open it.
//
// Errors from parsing wrap this package's ErrInvalidArgument and name the
// bad value and what is allowed; the runtime package wraps them once more in
// its own (the SDK's) ErrInvalidArgument.
package devices

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrInvalidArgument is wrapped by every parse error of this package.
var ErrInvalidArgument = errors.New("invalid argument")

// DefaultPerms are the cgroup permissions of a device given without PERMS:
// read, write and mknod (docker's default).
const DefaultPerms = "rwm"

// Device is one host device passed into a container, resolved from a
// HOST[:CONTAINER][:PERMS] string.
type Device struct {
	// Spec is the string as given.
	Spec string
	// HostPath is the host path as given (may be a symlink such as
	// /dev/serial/by-id/...).
	HostPath string
	// Node is the host device node HostPath resolves to (symlinks followed).
	Node string
	// ContainerPath is where the node appears in the container; it defaults
	// to HostPath as given.
	ContainerPath string
	// Perms are the cgroup permissions, a non-empty subset of "rwm" (read,
	// write, mknod).
	Perms string
	// Type is "c" (character device) or "b" (block device).
	Type string
	// Major and Minor are the node's device numbers.
	Major, Minor int64
	// GID is the node's group on the host, added to every command's
	// supplementary groups (0 is never added).
	GID uint32
}

// reserved are container paths a device may not take (or be below): the
// runtime's own mounts and the kernel's pseudo file systems.
var reserved = []string{"/proc", "/sys", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/.pocketdock-init"}

// Parse resolves one HOST[:CONTAINER][:PERMS] string (docker's form: with two
// fields the second is PERMS when it is made of r, w and m, else CONTAINER).
// HOST must be an absolute path to a character or block device, symlinks
// followed; CONTAINER an absolute path outside /proc, /sys and the runtime's
// /dev mounts (default: HOST as given); PERMS a non-empty subset of "rwm"
// (default "rwm"). Errors wrap ErrInvalidArgument and name the value.
func Parse(spec string) (Device, error) {
	bad := func(format string, a ...any) (Device, error) {
		return Device{}, fmt.Errorf("%w: device %q: %s", ErrInvalidArgument, spec, fmt.Sprintf(format, a...))
	}
	parts := strings.Split(spec, ":")
	d := Device{Spec: spec, Perms: DefaultPerms}
	switch len(parts) {
	case 1:
		d.HostPath = parts[0]
	case 2:
		d.HostPath = parts[0]
		if validPerms(parts[1]) {
			d.Perms = parts[1]
		} else {
			d.ContainerPath = parts[1]
		}
	case 3:
		d.HostPath, d.ContainerPath, d.Perms = parts[0], parts[1], parts[2]
	default:
		return bad("want HOST[:CONTAINER][:PERMS]")
	}
	if d.HostPath == "" || !filepath.IsAbs(d.HostPath) {
		return bad("host path %q: want an absolute path to a device node, e.g. /dev/ttyUSB0", d.HostPath)
	}
	if !validPerms(d.Perms) {
		return bad("permissions %q: want a non-empty subset of \"rwm\" (read, write, mknod)", d.Perms)
	}
	if d.ContainerPath == "" {
		d.ContainerPath = d.HostPath
	}
	if !filepath.IsAbs(d.ContainerPath) {
		return bad("container path %q: want an absolute path such as /dev/ttyUSB0", d.ContainerPath)
	}
	d.ContainerPath = filepath.Clean(d.ContainerPath)
	if d.ContainerPath == "/" || d.ContainerPath == "/dev" {
		return bad("container path %q: want a file path such as /dev/ttyUSB0", d.ContainerPath)
	}
	for _, r := range reserved {
		if d.ContainerPath == r || strings.HasPrefix(d.ContainerPath, r+"/") {
			return bad("container path %q is below %s, which the runtime mounts itself", d.ContainerPath, r)
		}
	}
	node, err := filepath.EvalSymlinks(d.HostPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return bad("host path %s does not exist", d.HostPath)
		}
		return bad("host path %s: %v", d.HostPath, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(node, &st); err != nil {
		return bad("host path %s: %v", node, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		d.Type = "c"
	case unix.S_IFBLK:
		d.Type = "b"
	case unix.S_IFDIR:
		return bad("host path %s is a directory: want a character or block device node", node)
	case unix.S_IFREG:
		return bad("host path %s is a regular file: want a character or block device node", node)
	default:
		return bad("host path %s is not a device node: want a character or block device", node)
	}
	d.Node = node
	d.Major = int64(unix.Major(st.Rdev))
	d.Minor = int64(unix.Minor(st.Rdev))
	d.GID = st.Gid
	return d, nil
}

// ParseAll parses every string (see Parse) and refuses two devices at the
// same container path.
func ParseAll(list []string) ([]Device, error) {
	var out []Device
	seen := map[string]string{}
	for _, s := range list {
		d, err := Parse(s)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[d.ContainerPath]; ok {
			return nil, fmt.Errorf("%w: device %q: container path %s is already taken by %q", ErrInvalidArgument, s, d.ContainerPath, prev)
		}
		seen[d.ContainerPath] = s
		out = append(out, d)
	}
	return out, nil
}

// validPerms reports a non-empty subset of "rwm", each letter at most once.
func validPerms(p string) bool {
	if p == "" || len(p) > 3 {
		return false
	}
	for i, c := range p {
		if !strings.ContainsRune("rwm", c) || strings.ContainsRune(p[i+1:], c) {
			return false
		}
	}
	return true
}

// Mount is the OCI bind mount of the host node at the container path.
func (d Device) Mount() specs.Mount {
	return specs.Mount{Destination: d.ContainerPath, Type: "bind", Source: d.Node, Options: []string{"bind", "nosuid", "noexec"}}
}

// Rule is the OCI linux.resources.devices allow rule for the node.
func (d Device) Rule() specs.LinuxDeviceCgroup {
	major, minor := d.Major, d.Minor
	return specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: d.Perms}
}

// Apply adds each device's bind mount and cgroup allow rule to s (after the
// spec's own mounts and its deny-all rule).
func Apply(s *specs.Spec, devs []Device) {
	for _, d := range devs {
		s.Mounts = append(s.Mounts, d.Mount())
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, d.Rule())
	}
}

// Groups returns the distinct non-zero groups of devs' nodes, in order: the
// supplementary groups every command gets so it can open them. Group 0 is
// left out (it would give root's group to the image user).
func Groups(devs []Device) []uint32 {
	var out []uint32
	for _, d := range devs {
		if d.GID != 0 && !containsGID(out, d.GID) {
			out = append(out, d.GID)
		}
	}
	return out
}

// AddGroups returns groups with each of extra appended unless already there
// or equal to primary.
func AddGroups(groups []uint32, primary uint32, extra []uint32) []uint32 {
	out := append([]uint32(nil), groups...)
	for _, g := range extra {
		if g != primary && !containsGID(out, g) {
			out = append(out, g)
		}
	}
	return out
}

func containsGID(list []uint32, g uint32) bool {
	for _, x := range list {
		if x == g {
			return true
		}
	}
	return false
}
