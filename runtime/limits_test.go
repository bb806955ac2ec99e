package runtime

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/specconv"

	"github.com/pocketdock/pocketdock/cgroups"
	"github.com/pocketdock/pocketdock/devices"
)

func TestValidateResources(t *testing.T) {
	lim, err := validateResources(CreateOptions{MemLimit: "32m", CPUPercent: 50, PidsLimit: 64, Devices: []string{"/dev/null:/dev/ttyUSB0:rw"}})
	if err != nil {
		t.Fatal(err)
	}
	if lim != (cgroups.Limits{MemoryBytes: 32 << 20, CPUPercent: 50, PidsLimit: 64}) {
		t.Fatalf("limits: %+v", lim)
	}
	for _, o := range []CreateOptions{
		{MemLimit: "abc"}, {MemLimit: "-1m"}, {MemLimit: "0"}, {MemLimit: "10"},
		{CPUPercent: -1}, {CPUPercent: cgroups.HostCPUs()*100 + 1},
		{Devices: []string{"/nonexistent/ttyUSB9"}}, {Devices: []string{"/etc/hostname"}}, {Devices: []string{"/etc"}},
	} {
		_, err := validateResources(o)
		// Both the runtime's (the SDK's) sentinel and the package's match.
		if !errors.Is(err, ErrInvalidArgument) || !(errors.Is(err, cgroups.ErrInvalidArgument) || errors.Is(err, devices.ErrInvalidArgument)) {
			t.Errorf("%+v: want ErrInvalidArgument, got %v", o, err)
		}
	}
}

// TestApplyResources checks that rec's limits and devices reach the spec and
// survive libcontainer's conversion into its cgroup config.
func TestApplyResources(t *testing.T) {
	id := strings.Repeat("a", 64)
	s, err := buildSpec(specInput{ID: id, Hostname: "h", Rootfs: "/r", AgentHostPath: "/a"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{ID: id, Name: "n", Process: Process{UID: 1000, GID: 1000, Groups: []uint32{20}},
		Limits:  cgroups.Limits{MemoryBytes: 32 << 20, CPUPercent: 150, PidsLimit: 64},
		Devices: []string{"/dev/null:/dev/ttyUSB0:rw"}}
	if err := applyResources(s, rec); err != nil {
		t.Fatal(err)
	}
	last := s.Mounts[len(s.Mounts)-1]
	if last.Source != "/dev/null" || last.Destination != "/dev/ttyUSB0" || last.Type != "bind" {
		t.Fatalf("device mount: %+v", last)
	}
	// /dev/null belongs to group 0, which is never added.
	if len(rec.Process.Groups) != 1 || len(rec.DeviceGroups) != 0 {
		t.Fatalf("groups: %v %v", rec.Process.Groups, rec.DeviceGroups)
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: id, Spec: s})
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Cgroups.Resources
	if r.Memory != 32<<20 || r.CpuQuota != 150_000 || r.CpuPeriod != 100_000 || r.PidsLimit == nil || *r.PidsLimit != 64 {
		t.Fatalf("libcontainer resources: memory %d swap %d quota %d period %d pids %v", r.Memory, r.MemorySwap, r.CpuQuota, r.CpuPeriod, r.PidsLimit)
	}
	found := false
	for _, d := range r.Devices {
		if d.Allow && d.Major == 1 && d.Minor == 3 && string(d.Permissions) == "rw" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no allow rule c 1:3 rw among %+v", r.Devices)
	}

	// A device gone since create fails the start with ErrInvalidArgument.
	rec.Devices = []string{"/dev/gone-pd-test"}
	if err := applyResources(s, rec); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("missing device at start: %v", err)
	}
}
