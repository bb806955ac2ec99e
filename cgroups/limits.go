// Package cgroups turns pocketdock's resource options (MemLimit, CPUPercent,
// PidsLimit) into the OCI runtime spec's LinuxResources, and reads a
// container's live usage back from its cgroup (memory, CPU, PIDs, OOM kills).
// It works on cgroup v1 (each controller its own hierarchy, cpu and cpuacct
// possibly mounted apart) and on cgroup v2 (one unified hierarchy), leaning
// on opencontainers/cgroups, the library libcontainer uses.
//
// Errors from parsing wrap this package's ErrInvalidArgument; the runtime
// package wraps them once more in its own (the SDK's) ErrInvalidArgument.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"

	units "github.com/docker/go-units"
	ocgroups "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrInvalidArgument is wrapped by every parse error of this package; the
// message names the bad value and what is allowed.
var ErrInvalidArgument = errors.New("invalid argument")

const (
	// MinMemoryBytes is the smallest memory limit accepted: 6 MiB (runc's
	// floor; below it a container cannot even start its init).
	MinMemoryBytes = 6 * units.MiB
	// CPUPeriodUS is the CFS period every CPU cap uses: 100 000 µs (100 ms).
	CPUPeriodUS = 100_000
	// DefaultPidsLimit is the default cap on processes in one container
	// (API.md, PidsLimit); it stops a fork bomb.
	DefaultPidsLimit = 4096
	// MaxPidsLimit is the largest pids limit accepted: the kernel's
	// PID_MAX_LIMIT (4 194 304), the most pids.max can hold.
	MaxPidsLimit = 4 << 20
)

// Limits are a container's resource caps, as stored in its record and
// applied to OCI linux.resources at every start.
type Limits struct {
	// MemoryBytes caps memory in bytes (OCI memory.limit; swap is capped at
	// the same value through memory.swap, so no swap is usable). 0 = none.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// CPUPercent caps CPU time in percent of one CPU (150 = one and a half
	// CPUs): OCI cpu.quota = CPUPercent × 1000 µs per cpu.period = 100 000 µs.
	// 0 = none.
	CPUPercent int `json:"cpu_percent,omitempty"`
	// PidsLimit caps the number of processes and threads (OCI pids.limit).
	// 0 = DefaultPidsLimit; negative = none.
	PidsLimit int64 `json:"pids_limit,omitempty"`
}

// HostCPUs is the number of CPUs this process may run on; CPUPercent may be
// at most HostCPUs() × 100.
func HostCPUs() int { return goruntime.NumCPU() }

// ParseMemLimit parses a memory size such as "256m", "1g" or "512MiB" with
// docker/go-units' RAMInBytes (binary units: k = 1024). "" means no limit
// (0). Anything else below MinMemoryBytes, negative or unparsable returns an
// error wrapping ErrInvalidArgument that names the value and what is allowed.
func ParseMemLimit(s string) (int64, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: memory limit %q: want a size such as \"256m\" or \"1g\" (binary units b, k, m, g, t), at least 6m", ErrInvalidArgument, s)
	}
	if n < MinMemoryBytes {
		return 0, fmt.Errorf("%w: memory limit %q is %d bytes: want at least 6m (%d bytes)", ErrInvalidArgument, s, n, int64(MinMemoryBytes))
	}
	return n, nil
}

// ValidateCPUPercent checks a CPU cap: 0 (none) up to HostCPUs() × 100.
// The error wraps ErrInvalidArgument and names the value and the range.
func ValidateCPUPercent(p int) error {
	max := HostCPUs() * 100
	if p < 0 || p > max {
		return fmt.Errorf("%w: CPU percent %d: want 0 (no cap) to %d (this host's %d CPUs × 100)", ErrInvalidArgument, p, max, HostCPUs())
	}
	return nil
}

// ValidatePidsLimit checks a pids limit: negative (none), 0 (the default) or
// 1 to MaxPidsLimit. The error wraps ErrInvalidArgument.
func ValidatePidsLimit(n int64) error {
	if n > MaxPidsLimit {
		return fmt.Errorf("%w: pids limit %d: want at most %d (the kernel's PID_MAX_LIMIT), 0 for the default %d, or negative for none", ErrInvalidArgument, n, MaxPidsLimit, DefaultPidsLimit)
	}
	return nil
}

// Parse validates the three options of API.md (MemLimit, CPUPercent,
// PidsLimit) and returns them as Limits. Errors wrap ErrInvalidArgument.
func Parse(memLimit string, cpuPercent int, pidsLimit int64) (Limits, error) {
	mem, err := ParseMemLimit(memLimit)
	if err != nil {
		return Limits{}, err
	}
	if err := ValidateCPUPercent(cpuPercent); err != nil {
		return Limits{}, err
	}
	if err := ValidatePidsLimit(pidsLimit); err != nil {
		return Limits{}, err
	}
	return Limits{MemoryBytes: mem, CPUPercent: cpuPercent, PidsLimit: pidsLimit}, nil
}

// Pids returns the effective pids limit: DefaultPidsLimit for 0, -1 (none)
// for any negative value.
func (l Limits) Pids() int64 {
	switch {
	case l.PidsLimit == 0:
		return DefaultPidsLimit
	case l.PidsLimit < 0:
		return -1
	}
	return l.PidsLimit
}

// CPUQuotaUS returns the CFS quota in µs per CPUPeriodUS for the CPU cap,
// 0 when there is none.
func (l Limits) CPUQuotaUS() int64 { return int64(l.CPUPercent) * 1000 }

// Apply writes the limits into r: memory.limit and memory.swap (the same
// value, so swap adds nothing; skipped on a cgroup v1 host without swap
// accounting, where the kernel has no memsw files), cpu.quota and
// cpu.period, and pids.limit. Fields for options left at "none" stay unset.
func (l Limits) Apply(r *specs.LinuxResources) {
	if l.MemoryBytes > 0 {
		mem := l.MemoryBytes
		r.Memory = &specs.LinuxMemory{Limit: &mem}
		if swapAccounting() {
			swap := l.MemoryBytes
			r.Memory.Swap = &swap
		}
	}
	if l.CPUPercent > 0 {
		quota := l.CPUQuotaUS()
		period := uint64(CPUPeriodUS)
		r.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	pids := l.Pids()
	r.Pids = &specs.LinuxPids{Limit: &pids}
}

// swapAccounting reports whether the memory cgroup can cap swap: always on
// v2 (libcontainer tolerates a missing memory.swap.max when the cap is 0
// extra), and on v1 when memory.memsw.limit_in_bytes exists (kernel
// swapaccount=1).
func swapAccounting() bool {
	if ocgroups.IsCgroup2UnifiedMode() {
		return true
	}
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}
