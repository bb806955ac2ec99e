package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/pocketdock/pocketdock"
)

// addLimitFlags adds create's resource flags: --mem-limit, --cpu-percent and
// --device (--pids-limit is defined with the other create flags).
func addLimitFlags(f *pflag.FlagSet, o *pocketdock.Options) {
	f.StringVar(&o.MemLimit, "mem-limit", "", `memory cap, e.g. 256m or 1g (binary units, at least 6m; swap capped too; default none)`)
	f.IntVar(&o.CPUPercent, "cpu-percent", 0, "CPU cap in percent of one CPU (50 = half, 150 = one and a half; default 0 = none)")
	f.StringArrayVar(&o.Devices, "device", nil, "host device HOST[:CONTAINER][:PERMS] to pass in, perms from rwm (repeatable)")
}

// processJSON is one row of info's "processes".
type processJSON struct {
	PID     int    `json:"pid"`
	HostPID int    `json:"host_pid"`
	User    string `json:"user"`
	UID     int    `json:"uid"`
	State   string `json:"state"`
	Command string `json:"command"`
}

// addUsageJSON adds info's limit and live-usage fields, snake_case, to doc.
func addUsageJSON(doc map[string]any, in pocketdock.ContainerInfo) {
	procs := []processJSON{}
	for _, p := range in.Processes {
		procs = append(procs, processJSON{p.PID, p.HostPID, p.User, p.UID, p.State, p.Command})
	}
	devs := in.Devices
	if devs == nil {
		devs = []string{}
	}
	for k, v := range map[string]any{
		"memory_usage": in.MemoryUsage, "memory_usage_human": in.MemoryUsageHuman,
		"memory_limit": in.MemoryLimit, "memory_limit_human": in.MemoryLimitHuman,
		"memory_percent": in.MemoryPercent, "cpu_percent": in.CPUPercent, "pids": in.PIDs,
		"processes": procs, "oom_killed": in.OOMKilled, "oom_kill_count": in.OOMKillCount,
		"mem_limit_bytes": in.MemLimitBytes, "cpu_limit_percent": in.CPULimitPercent,
		"pids_limit": in.PidsLimit, "devices": devs,
	} {
		doc[k] = v
	}
}

// printUsageTable prints info's limits, live usage and process list as
// table rows on tw.
func printUsageTable(tw *tabwriter.Writer, in pocketdock.ContainerInfo) {
	limit := func(set bool, s string) string {
		if !set {
			return "none"
		}
		return s
	}
	fmt.Fprintf(tw, "Memory limit:\t%s\n", limit(in.MemLimitBytes > 0, units.BytesSize(float64(in.MemLimitBytes))))
	fmt.Fprintf(tw, "CPU limit:\t%s\n", limit(in.CPULimitPercent > 0, fmt.Sprintf("%d%% of one CPU", in.CPULimitPercent)))
	fmt.Fprintf(tw, "PIDs limit:\t%s\n", limit(in.PidsLimit > 0, fmt.Sprint(in.PidsLimit)))
	if len(in.Devices) > 0 {
		fmt.Fprintf(tw, "Devices:\t%s\n", strings.Join(in.Devices, ", "))
	}
	if in.MemoryLimitHuman != "" {
		fmt.Fprintf(tw, "Memory:\t%s / %s (%.1f%%)\n", in.MemoryUsageHuman, in.MemoryLimitHuman, in.MemoryPercent)
		fmt.Fprintf(tw, "CPU:\t%.1f%%\n", in.CPUPercent)
		fmt.Fprintf(tw, "PIDs:\t%d\n", in.PIDs)
	}
	fmt.Fprintf(tw, "OOM killed:\t%v", in.OOMKilled)
	if in.OOMKillCount > 0 {
		fmt.Fprintf(tw, " (%d OOM kills)", in.OOMKillCount)
	}
	fmt.Fprintln(tw)
	if len(in.Processes) > 0 {
		fmt.Fprintln(tw)
		tw.Flush()
		printProcesses(tw, in.Processes)
	}
}

// printProcesses prints the process list as its own table below the fields.
func printProcesses(w io.Writer, procs []pocketdock.ProcessInfo) {
	pw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(pw, "PID\tUSER\tSTATE\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(pw, "%d\t%s\t%s\t%s\n", p.PID, p.User, p.State, p.Command)
	}
	pw.Flush()
}
