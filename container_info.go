package pocketdock

import (
	"context"

	units "github.com/docker/go-units"

	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// ProcessInfo is one process of a running container (ContainerInfo.Processes):
// PID inside the container and on the host, effective UID and its user name
// from the container's /etc/passwd, the /proc state letter (R, S, D, T, Z, …)
// and the command line.
type ProcessInfo = pdrt.ProcessInfo

// fillUsage adds the configured limits and, while the container runs or is
// paused, its live use (memory, CPU over 100 ms, PIDs, processes, OOM kills)
// to info.
func (c *Container) fillUsage(ctx context.Context, status string, info *ContainerInfo) error {
	r := c.rec
	info.MemLimitBytes = r.Limits.MemoryBytes
	info.CPULimitPercent = r.Limits.CPUPercent
	info.PidsLimit = r.Limits.Pids()
	info.Devices = r.Devices
	info.Processes = []ProcessInfo{}
	if status != pdrt.StatusRunning && status != pdrt.StatusPaused {
		return nil
	}
	st, err := c.m.Stats(ctx, r)
	if err != nil {
		// Stopped in between: report it as such, not as a failure.
		if now, serr := c.m.Status(r); serr == nil && now != pdrt.StatusRunning && now != pdrt.StatusPaused {
			info.Status = now
			info.Uptime, info.PID1 = 0, 0
			return nil
		}
		return err
	}
	info.MemoryUsage = st.MemoryUsage
	info.MemoryUsageHuman = units.BytesSize(float64(st.MemoryUsage))
	info.MemoryLimit = st.MemoryLimit
	info.MemoryLimitHuman = units.BytesSize(float64(st.MemoryLimit))
	info.MemoryPercent = st.MemoryPercent
	info.CPUPercent = st.CPUPercent
	info.PIDs = int(st.PIDs)
	info.Processes = st.Processes
	info.OOMKillCount = st.OOMKills
	info.OOMKilled = st.OOMKills > 0
	return nil
}
