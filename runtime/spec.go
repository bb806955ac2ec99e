package runtime

import (
	"fmt"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock/cgroups"
)

// AgentPath is where the agent binary is bind-mounted (read-only) in every
// container. /dev is a tmpfs the runtime makes, so the mount point never
// lands in the container's overlay diff.
const AgentPath = "/dev/.pocketdock-init"

// DefaultPidsLimit is the default cap on processes in one container (API.md).
const DefaultPidsLimit = cgroups.DefaultPidsLimit

// defaultCaps is docker's default capability set. The minimal set of
// `runc spec` cannot even mkdir on an overlay root (DESIGN.md).
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// maskedPaths are hidden from the container (OCI linux.maskedPaths).
var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// readonlyPaths are mounted read-only (OCI linux.readonlyPaths).
var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// specInput is what buildSpec needs.
type specInput struct {
	ID, Hostname    string
	Rootfs          string
	AgentHostPath   string
	NoNewPrivileges bool
	Labels          map[string]string
}

// nofileLimit returns the RLIMIT_NOFILE for the container: docker's 1048576,
// lowered to the host's hard limit, because root here lacks CAP_SYS_RESOURCE
// and a spec rlimit above the hard limit fails (DESIGN.md, pitfalls).
func nofileLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	limit := uint64(1 << 20)
	if rl.Max < limit {
		limit = rl.Max
	}
	return limit
}

// buildSpec returns the OCI runtime spec of a container whose PID 1 is the agent.
func buildSpec(in specInput) (*specs.Spec, error) {
	nofile := nofileLimit()
	// The default; applyResources puts the container's own limit in.
	pids := int64(DefaultPidsLimit)
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: in.Rootfs},
		Process: &specs.Process{
			Args: []string{AgentPath},
			// GOMAXPROCS=1 keeps the idle agent small; commands never see this env.
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GOMAXPROCS=1"},
			Cwd:  "/",
			User: specs.User{UID: 0, GID: 0},
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  defaultCaps,
				Effective: defaultCaps,
				Permitted: defaultCaps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile, Soft: nofile}},
			NoNewPrivileges: in.NoNewPrivileges,
		},
		Hostname:    in.Hostname,
		Annotations: map[string]string{"io.pocketdock.id": in.ID},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: AgentPath, Type: "bind", Source: in.AgentHostPath, Options: []string{"bind", "ro", "nodev", "nosuid"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/pocketdock/" + in.ID,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
				Pids:    &specs.LinuxPids{Limit: &pids},
			},
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
		},
	}
	for k, v := range in.Labels {
		s.Annotations["io.pocketdock.label."+k] = v
	}
	sc, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		return nil, fmt.Errorf("default seccomp profile: %w", err)
	}
	s.Linux.Seccomp = sc
	return s, nil
}
