package cgroups

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	ocgroups "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fscommon"
	"github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"
)

// CPUWindow is the window over which Measure computes CPUPercent (API.md: 100 ms).
const CPUWindow = 100 * time.Millisecond

// Usage is a container's live resource use, read from its cgroup.
type Usage struct {
	// MemoryUsage is memory in use in bytes: the cgroup's usage minus its
	// inactive file cache, as docker counts it (v1 memory.usage_in_bytes −
	// memory.stat total_inactive_file; v2 memory.current − memory.stat
	// inactive_file).
	MemoryUsage uint64
	// MemoryLimit is the memory the container may use in bytes: the cgroup's
	// limit (v1 memory.limit_in_bytes, v2 memory.max), or the host's RAM when
	// that is lower or there is no limit.
	MemoryLimit uint64
	// MemoryLimited reports a cgroup memory limit below the host's RAM.
	MemoryLimited bool
	// MemoryPercent is MemoryUsage / MemoryLimit × 100.
	MemoryPercent float64
	// CPUPercent is CPU time used over the measuring window, in percent of
	// one CPU (200 = two CPUs busy), from v1 cpuacct.usage or v2 cpu.stat
	// usage_usec.
	CPUPercent float64
	// PIDs is the number of processes and threads in the cgroup (pids.current).
	PIDs uint64
	// OOMKills is how many processes the OOM killer killed in the cgroup
	// (v1 memory.oom_control oom_kill, v2 memory.events oom_kill).
	OOMKills uint64
}

// NewManager returns a cgroup manager (v1 or v2, as the host runs) for the
// cgroup config and paths libcontainer stored for a container (its
// config's Cgroups and its state's CgroupPaths).
func NewManager(config *ocgroups.Cgroup, paths map[string]string) (ocgroups.Manager, error) {
	return manager.NewWithPaths(config, paths)
}

// Measure reads the container cgroup of mgr: CPU time twice, window apart
// (CPUWindow when window ≤ 0), and memory, PIDs and the OOM-kill count once.
// It returns early with ctx's error when ctx ends during the window.
func Measure(ctx context.Context, mgr ocgroups.Manager, window time.Duration) (Usage, error) {
	if window <= 0 {
		window = CPUWindow
	}
	paths := mgr.GetPaths()
	cpu0, err := cpuUsageNS(paths)
	if err != nil {
		return Usage{}, err
	}
	t0 := time.Now()
	timer := time.NewTimer(window)
	select {
	case <-ctx.Done():
		timer.Stop()
		return Usage{}, ctx.Err()
	case <-timer.C:
	}
	cpu1, err := cpuUsageNS(paths)
	if err != nil {
		return Usage{}, err
	}
	elapsed := time.Since(t0)

	st, err := mgr.GetStats()
	if err != nil {
		return Usage{}, fmt.Errorf("cgroup stats: %w", err)
	}
	u := Usage{
		MemoryUsage: MemoryUsage(&st.MemoryStats),
		CPUPercent:  CPUPercent(cpu0, cpu1, elapsed),
		PIDs:        st.PidsStats.Current,
	}
	u.MemoryLimit, u.MemoryLimited = effectiveLimit(st.MemoryStats.Usage.Limit, hostRAM())
	u.MemoryPercent = percent(u.MemoryUsage, u.MemoryLimit)
	if n, err := mgr.OOMKillCount(); err == nil {
		u.OOMKills = n
	} else if !errors.Is(err, os.ErrNotExist) {
		return Usage{}, fmt.Errorf("OOM-kill count: %w", err)
	}
	return u, nil
}

// MemoryUsage returns usage minus the inactive file cache, as docker counts
// it: memory.stat total_inactive_file on v1, inactive_file on v2, never
// below 0.
func MemoryUsage(m *ocgroups.MemoryStats) uint64 {
	usage := m.Usage.Usage
	inactive, ok := m.Stats["total_inactive_file"] // v1 (hierarchical)
	if !ok {
		inactive = m.Stats["inactive_file"] // v2
	}
	if inactive > usage {
		return 0
	}
	return usage - inactive
}

// CPUPercent returns the CPU time used between two readings of a cgroup's
// usage counter (ns), over elapsed wall time, in percent of one CPU.
func CPUPercent(before, after uint64, elapsed time.Duration) float64 {
	if after < before || elapsed <= 0 {
		return 0
	}
	return float64(after-before) / float64(elapsed.Nanoseconds()) * 100
}

// effectiveLimit returns the lower of the cgroup's limit and the host's RAM
// and whether the cgroup's was lower. v1 reports "no limit" as a huge page
// counter, v2 as max (math.MaxUint64).
func effectiveLimit(cg, host uint64) (uint64, bool) {
	if cg == 0 || cg == math.MaxUint64 || (host > 0 && cg >= host) {
		return host, false
	}
	return cg, true
}

func percent(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole) * 100
}

// hostRAM returns the host's total RAM in bytes (sysinfo).
func hostRAM() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// cpuUsageNS reads the cgroup's total CPU time in ns: v1 cpuacct.usage (the
// cpuacct hierarchy, which may be mounted apart from cpu), v2 cpu.stat
// usage_usec.
func cpuUsageNS(paths map[string]string) (uint64, error) {
	if dir, ok := paths["cpuacct"]; ok && dir != "" {
		return fscommon.GetCgroupParamUint(dir, "cpuacct.usage")
	}
	if dir, ok := paths[""]; ok && dir != "" {
		us, err := fscommon.GetValueByKey(dir, "cpu.stat", "usage_usec")
		if err != nil {
			return 0, err
		}
		return us * 1000, nil
	}
	return 0, fmt.Errorf("no cpuacct (v1) or unified (v2) cgroup among %v", paths)
}
