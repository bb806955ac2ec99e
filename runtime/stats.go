package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
	"github.com/opencontainers/runc/libcontainer"

	"github.com/pocketdock/pocketdock/cgroups"
)

// ProcessInfo is one process of a running container, read from the host's /proc.
type ProcessInfo struct {
	// PID is the process ID inside the container (the last NSpid of
	// /proc/PID/status); HostPID the one on the host.
	PID, HostPID int
	// UID is the effective user ID; User its name from the container's
	// /etc/passwd (read through filepath-securejoin), or the number when
	// the file has no entry for it.
	UID  int
	User string
	// State is the state letter of /proc/PID/status: R running, S sleeping,
	// D disk sleep, T stopped, Z zombie, …
	State string
	// Command is the command line (/proc/PID/cmdline, arguments joined by
	// spaces), or the name in brackets when it has none.
	Command string
}

// Stats is a live measurement of a running or paused container.
type Stats struct {
	cgroups.Usage
	// Processes are the container's processes, ordered by PID in the container.
	Processes []ProcessInfo
}

// Stats measures rec's cgroup (memory, CPU over cgroups.CPUWindow, PIDs, OOM
// kills) and lists its processes. ErrContainerNotRunning when libcontainer
// has no running or paused container for rec.
func (m *Manager) Stats(ctx context.Context, rec *Record) (Stats, error) {
	c, err := libcontainer.Load(m.paths.Libcontainer(), rec.ID)
	if errors.Is(err, libcontainer.ErrNotExist) {
		return Stats{}, fmt.Errorf("%w: %s has no running PID 1", ErrContainerNotRunning, rec.Name)
	}
	if err != nil {
		return Stats{}, err
	}
	st, err := c.State()
	if err != nil {
		return Stats{}, err
	}
	cfg := c.Config()
	mgr, err := cgroups.NewManager(cfg.Cgroups, st.CgroupPaths)
	if err != nil {
		return Stats{}, fmt.Errorf("cgroup of %s: %w", rec.Name, err)
	}
	u, err := cgroups.Measure(ctx, mgr, cgroups.CPUWindow)
	if err != nil {
		return Stats{}, fmt.Errorf("measure %s: %w", rec.Name, err)
	}
	pids, err := c.Processes()
	if err != nil {
		return Stats{}, fmt.Errorf("processes of %s: %w", rec.Name, err)
	}
	return Stats{Usage: u, Processes: listProcesses(rec.Rootfs, pids)}, nil
}

// listProcesses reads /proc of each host pid; processes that exited since
// the cgroup was read are left out.
func listProcesses(rootfs string, pids []int) []ProcessInfo {
	names := passwdNames(rootfs)
	out := []ProcessInfo{}
	for _, pid := range pids {
		p, ok := readProcess(pid)
		if !ok {
			continue
		}
		if n, ok := names[p.UID]; ok {
			p.User = n
		} else {
			p.User = strconv.Itoa(p.UID)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// passwdNames maps user IDs to names from the container's /etc/passwd,
// opened inside rootfs through filepath-securejoin (a symlink in the image
// can never make the host read its own files). Empty when unreadable.
func passwdNames(rootfs string) map[int]string {
	names := map[int]string{}
	if rootfs == "" {
		return names
	}
	f, err := openInRootfs(rootfs, "/etc/passwd")
	if err != nil || f == nil {
		return names
	}
	defer f.Close()
	users, err := user.ParsePasswd(f)
	if err != nil {
		return names
	}
	for _, u := range users {
		if _, ok := names[u.Uid]; !ok {
			names[u.Uid] = u.Name
		}
	}
	return names
}

// readProcess reads /proc/PID/status and /proc/PID/cmdline of host pid.
func readProcess(pid int) (ProcessInfo, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ProcessInfo{}, false
	}
	p := ProcessInfo{PID: pid, HostPID: pid}
	var name string
	for _, line := range strings.Split(string(status), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		switch key {
		case "Name":
			name = strings.TrimSpace(val)
		case "State":
			p.State = f[0]
		case "Uid":
			if len(f) > 1 {
				p.UID, _ = strconv.Atoi(f[1]) // effective
			}
		case "NSpid":
			p.PID, _ = strconv.Atoi(f[len(f)-1])
		}
	}
	cmdline, _ := os.ReadFile(dir + "/cmdline")
	cmd := strings.TrimRight(string(cmdline), "\x00")
	if cmd == "" {
		p.Command = "[" + name + "]"
	} else {
		p.Command = strings.ReplaceAll(cmd, "\x00", " ")
	}
	return p, true
}
