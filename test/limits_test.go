package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

// cgroupV2 reports a unified (cgroup v2) host.
func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// cgroupFile reads a file of container id's cgroup: v1File in the v1
// controller's hierarchy, or v2File in the unified one.
func cgroupFile(t *testing.T, id, controller, v1File, v2File string) string {
	t.Helper()
	path := filepath.Join("/sys/fs/cgroup", controller, "pocketdock", id, v1File)
	if cgroupV2() {
		path = filepath.Join("/sys/fs/cgroup/pocketdock", id, v2File)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cgroup file: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// keyValue returns the value of key in a "key value" per line cgroup file.
func keyValue(t *testing.T, text, key string) uint64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", key, v, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in %q", key, text)
	return 0
}

// cpuUsageNS is the CPU time container id's cgroup used so far, in ns.
func cpuUsageNS(t *testing.T, id string) uint64 {
	t.Helper()
	if cgroupV2() {
		return keyValue(t, cgroupFile(t, id, "", "", "cpu.stat"), "usage_usec") * 1000
	}
	n, err := strconv.ParseUint(cgroupFile(t, id, "cpuacct", "cpuacct.usage", ""), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitForProcess polls Info until a process whose command contains cmd shows up.
func waitForProcess(t *testing.T, c *pocketdock.Container, cmd string) pocketdock.ContainerInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		in, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range in.Processes {
			if strings.Contains(p.Command, cmd) {
				return in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no process %q in %+v", cmd, in.Processes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hasSleeping reports whether in lists a process whose command line is cmd,
// in state S (sleeping).
func hasSleeping(in pocketdock.ContainerInfo, cmd string) bool {
	for _, p := range in.Processes {
		if p.Command == cmd && p.State == "S" {
			return true
		}
	}
	return false
}

func TestMemLimitOOMKill(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage, MemLimit: "32m"})
	ctx := context.Background()
	limit := strconv.Itoa(32 << 20)
	if cgroupV2() {
		if got := cgroupFile(t, c.ID(), "", "", "memory.max"); got != limit {
			t.Fatalf("memory.max = %s, want %s", got, limit)
		}
		if got := cgroupFile(t, c.ID(), "", "", "memory.swap.max"); got != "0" {
			t.Fatalf("memory.swap.max = %s, want 0 (swap capped at the memory limit)", got)
		}
	} else {
		if got := cgroupFile(t, c.ID(), "memory", "memory.limit_in_bytes", ""); got != limit {
			t.Fatalf("memory.limit_in_bytes = %s, want %s", got, limit)
		}
		if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
			if got := cgroupFile(t, c.ID(), "memory", "memory.memsw.limit_in_bytes", ""); got != limit {
				t.Fatalf("memory.memsw.limit_in_bytes = %s, want %s (swap capped at the same value)", got, limit)
			}
		}
	}
	// No PidsLimit given: the default 4096.
	if got := cgroupFile(t, c.ID(), "pids", "pids.max", "pids.max"); got != "4096" {
		t.Fatalf("default pids.max = %s, want 4096", got)
	}

	in, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.OOMKilled || in.MemoryLimit != 32<<20 || in.MemoryLimitHuman != "32MiB" || in.MemLimitBytes != 32<<20 {
		t.Fatalf("before: oom %v limit %d %q configured %d", in.OOMKilled, in.MemoryLimit, in.MemoryLimitHuman, in.MemLimitBytes)
	}
	// A small allocation is fine.
	res, err := c.Run(ctx, "b = b'x' * (4 << 20); print(len(b))", pocketdock.WithLang("python"))
	if err != nil || res.ExitCode != 0 || res.Stdout != "4194304\n" {
		t.Fatalf("4 MiB: %+v %v", res, err)
	}
	// 64 MiB touched in a 32 MiB cgroup without swap: the OOM killer takes the command.
	res, err = c.Run(ctx, "b = b'x' * (64 << 20); print(len(b))", pocketdock.WithLang("python"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 137 || res.Stdout != "" {
		t.Fatalf("allocation past the limit: want exit 137, got %+v", res)
	}
	in, err = c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !in.OOMKilled || in.OOMKillCount < 1 || in.Status != "running" {
		t.Fatalf("after: OOMKilled %v count %d status %s", in.OOMKilled, in.OOMKillCount, in.Status)
	}
	// PID 1 survived and commands still run.
	res, err = c.Run(ctx, "echo still here")
	if err != nil || res.Stdout != "still here\n" {
		t.Fatalf("after OOM: %+v %v", res, err)
	}
}

func TestCPUPercentCapsBusyLoop(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage, CPUPercent: 50})
	if !cgroupV2() {
		if q := cgroupFile(t, c.ID(), "cpu", "cpu.cfs_quota_us", ""); q != "50000" {
			t.Fatalf("cpu.cfs_quota_us = %s, want 50000", q)
		}
		if p := cgroupFile(t, c.ID(), "cpu", "cpu.cfs_period_us", ""); p != "100000" {
			t.Fatalf("cpu.cfs_period_us = %s, want 100000", p)
		}
	} else if m := cgroupFile(t, c.ID(), "", "", "cpu.max"); m != "50000 100000" {
		t.Fatalf("cpu.max = %q, want \"50000 100000\"", m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, "while :; do :; done", pocketdock.WithTimeout(60*time.Second))
		done <- err
	}()
	defer func() { cancel(); <-done }()
	in := waitForProcess(t, c, "while :")
	if in.CPULimitPercent != 50 {
		t.Fatalf("CPULimitPercent = %d", in.CPULimitPercent)
	}
	// Over 3 s of the busy loop, the cgroup's CPU time stays near half a CPU.
	u0, t0 := cpuUsageNS(t, c.ID()), time.Now()
	time.Sleep(3 * time.Second)
	u1, wall := cpuUsageNS(t, c.ID()), time.Since(t0)
	pct := float64(u1-u0) / float64(wall.Nanoseconds()) * 100
	t.Logf("busy loop with CPUPercent 50: %.1f %% of one CPU over %s", pct, wall.Round(time.Millisecond))
	if pct < 25 || pct > 75 {
		t.Fatalf("busy loop used %.1f %% of one CPU, want 25–75 %%", pct)
	}
	// Info's own 100 ms window sees the loop too (bounded by the cap, above idle).
	in, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if in.CPUPercent <= 0 || in.CPUPercent > 100 {
		t.Fatalf("Info.CPUPercent = %.1f with a busy loop capped at 50", in.CPUPercent)
	}
}

func TestPidsLimitStopsForkBomb(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage, PidsLimit: 64})
	ctx := context.Background()
	if got := cgroupFile(t, c.ID(), "pids", "pids.max", "pids.max"); got != "64" {
		t.Fatalf("pids.max = %s, want 64", got)
	}
	// Every process forks forever; failures (EAGAIN at the limit) are retried.
	bomb := "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n"
	res, err := c.Run(ctx, bomb, pocketdock.WithLang("python"), pocketdock.WithTimeout(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut {
		t.Fatalf("the bomb should run until its timeout: %+v", res)
	}
	bombStderr := res.Stderr
	if len(bombStderr) > 2000 {
		bombStderr = bombStderr[len(bombStderr)-2000:]
	}
	if max := keyValue(t, cgroupFile(t, c.ID(), "pids", "pids.events", "pids.events"), "max"); max == 0 {
		t.Fatalf("pids.events max = 0: the bomb never hit the limit")
	}
	// The container is usable again: the tree was killed (PID 1 is all
	// that is left), commands run. The kill may still be finishing when the
	// timed-out run returns (under emulation it takes seconds), so allow a
	// while — a bomb that escaped the kill would keep the container full for
	// good.
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err = c.Run(ctx, "echo alive")
		procs := cgroupProcs(t, c.ID())
		if err == nil && res.Stdout == "alive\n" && len(procs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the bomb: %+v %v, %d processes in the container (the bomb's stderr ended: %q)", res, err, len(procs), bombStderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	in, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.PIDs < 1 || in.PIDs > 64 || in.PidsLimit != 64 {
		t.Fatalf("PIDs %d (limit %d)", in.PIDs, in.PidsLimit)
	}
	// And so is the host.
	if out, err := exec.Command("sh", "-c", "echo host ok").Output(); err != nil || string(out) != "host ok\n" {
		t.Fatalf("host: %q %v", out, err)
	}
}

func TestInfoLive(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage, MemLimit: "256m"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx, "sleep 30")
		close(done)
	}()
	defer func() { cancel(); <-done }()
	in := waitForProcess(t, c, "sleep 30")
	// That may have matched the shell, or sleep before it sleeps (wide
	// windows under emulation, as in the VM lane): wait for sleep, asleep.
	for deadline := time.Now().Add(20 * time.Second); !hasSleeping(in, "sleep 30") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		in = waitForProcess(t, c, "sleep 30")
	}
	if in.Status != "running" || in.Uptime <= 0 || in.CreatedAt.IsZero() || in.StartedAt.IsZero() {
		t.Fatalf("status %s uptime %s created %s started %s", in.Status, in.Uptime, in.CreatedAt, in.StartedAt)
	}
	if in.MemoryUsage == 0 || in.MemoryUsageHuman == "" || in.MemoryLimit != 256<<20 || in.MemoryLimitHuman != "256MiB" {
		t.Fatalf("memory: usage %d %q limit %d %q", in.MemoryUsage, in.MemoryUsageHuman, in.MemoryLimit, in.MemoryLimitHuman)
	}
	if in.MemoryPercent <= 0 || in.MemoryPercent >= 100 {
		t.Fatalf("memory percent %.2f", in.MemoryPercent)
	}
	if in.PIDs < 2 || in.PidsLimit != 4096 || in.OOMKilled {
		t.Fatalf("pids %d limit %d oom %v", in.PIDs, in.PidsLimit, in.OOMKilled)
	}
	var sawInit, sawSleep bool
	for _, p := range in.Processes {
		if p.PID == 1 && p.User == "root" && p.Command == "/dev/.pocketdock-init" {
			sawInit = true
		}
		if p.Command == "sleep 30" && p.User == "sandbox" && p.UID == 1000 && p.State == "S" && p.HostPID > 1 && p.PID > 1 {
			sawSleep = true
		}
	}
	if !sawInit || !sawSleep {
		t.Fatalf("processes: %+v", in.Processes)
	}
}

// TestInfoUserNamesFromContainer: the user names come from the container's
// /etc/passwd resolved inside its root. The image's /etc/passwd is replaced
// with an absolute symlink that a plain host path join would follow to the
// host's /srv; resolved inside the rootfs it reaches the container's /srv.
func TestInfoUserNamesFromContainer(t *testing.T) {
	if _, err := os.Stat("/srv/pd-passwd"); err == nil {
		t.Skip("/srv/pd-passwd exists on the host")
	}
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	res, err := c.Run(ctx, "mkdir -p /srv && echo 'ctruser:x:4242:4242::/:/bin/sh' > /srv/pd-passwd && rm /etc/passwd && ln -s /../../../../../../srv/pd-passwd /etc/passwd")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("setup: %+v %v", res, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		c.Run(rctx, "sleep 31", pocketdock.WithUser("4242:4242"))
		close(done)
	}()
	defer func() { cancel(); <-done }()
	in := waitForProcess(t, c, "sleep 31")
	for _, p := range in.Processes {
		if p.Command == "sleep 31" && p.UID == 4242 {
			if p.User != "ctruser" {
				t.Fatalf("user of uid 4242 = %q, want ctruser from the container's /srv/pd-passwd", p.User)
			}
			return
		}
	}
	t.Fatalf("no sleep 31 as 4242 in %+v", in.Processes)
}

func TestLimitsBadInput(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "regular")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	maxCPU := runtime.NumCPU() * 100
	cases := []struct {
		opts pocketdock.Options
		want []string // in the message: the value and what is allowed
	}{
		{pocketdock.Options{MemLimit: "abc"}, []string{`"abc"`, "6m"}},
		{pocketdock.Options{MemLimit: "-1m"}, []string{`"-1m"`, "6m"}},
		{pocketdock.Options{MemLimit: "0"}, []string{`"0"`, "6m"}},
		{pocketdock.Options{MemLimit: "10"}, []string{`"10"`, "6m"}},
		{pocketdock.Options{CPUPercent: -1}, []string{"-1", strconv.Itoa(maxCPU)}},
		{pocketdock.Options{CPUPercent: maxCPU + 1}, []string{strconv.Itoa(maxCPU + 1), strconv.Itoa(maxCPU)}},
		{pocketdock.Options{Devices: []string{"/dev/pd-no-such-device"}}, []string{"/dev/pd-no-such-device", "does not exist"}},
		{pocketdock.Options{Devices: []string{file}}, []string{file, "regular file", "character or block device"}},
		{pocketdock.Options{Devices: []string{dir}}, []string{dir, "directory", "character or block device"}},
		{pocketdock.Options{Devices: []string{"/dev/null:/dev/x:rwx"}}, []string{"rwx", "rwm"}},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%q/%d/%q", tc.opts.MemLimit, tc.opts.CPUPercent, tc.opts.Devices)
		t.Run(name, func(t *testing.T) {
			before := hostState(t)
			opts := tc.opts
			opts.Image, opts.Root, opts.Pull = pythonImage, stateRoot, "never"
			c, err := pocketdock.CreateNewContainer(context.Background(), opts)
			if err == nil {
				c.Destroy(context.Background())
				t.Fatalf("created a container")
			}
			if !errors.Is(err, pocketdock.ErrInvalidArgument) {
				t.Fatalf("want ErrInvalidArgument, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if left := diffState(before, hostState(t)); len(left) > 0 {
				t.Fatalf("left behind: %v", left)
			}
		})
	}
}

func TestCLILimitsAndInfo(t *testing.T) {
	needRoot(t)
	name := "cli-limits"
	out, errs, code := cli(t, "create", "--image", pythonImage, "--name", name, "--pull", "never",
		"--mem-limit", "64m", "--cpu-percent", "50", "--pids-limit", "100", "--device", "/dev/null:/dev/pdnull:rw")
	if code != 0 {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	t.Cleanup(func() { cli(t, "rm", name) })

	out, errs, code = cli(t, "info", name, "--json")
	if code != 0 {
		t.Fatalf("info --json: %d %q", code, errs)
	}
	var doc struct {
		Status           string  `json:"status"`
		MemoryUsage      uint64  `json:"memory_usage"`
		MemoryLimit      uint64  `json:"memory_limit"`
		MemoryLimitHuman string  `json:"memory_limit_human"`
		MemoryPercent    float64 `json:"memory_percent"`
		CPUPercent       float64 `json:"cpu_percent"`
		PIDs             int     `json:"pids"`
		OOMKilled        *bool   `json:"oom_killed"`
		CPULimitPercent  int     `json:"cpu_limit_percent"`
		PidsLimit        int64   `json:"pids_limit"`
		Devices          []string
		Processes        []struct {
			PID     int    `json:"pid"`
			User    string `json:"user"`
			State   string `json:"state"`
			Command string `json:"command"`
		} `json:"processes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("info --json: %v\n%s", err, out)
	}
	if doc.Status != "running" || doc.MemoryUsage == 0 || doc.MemoryLimit != 64<<20 || doc.MemoryLimitHuman != "64MiB" ||
		doc.PIDs < 1 || doc.OOMKilled == nil || *doc.OOMKilled || doc.CPULimitPercent != 50 || doc.PidsLimit != 100 ||
		len(doc.Devices) != 1 || len(doc.Processes) == 0 || doc.Processes[0].User != "root" || doc.Processes[0].PID != 1 || doc.Processes[0].State == "" {
		t.Fatalf("info --json: %+v\n%s", doc, out)
	}
	out, _, code = cli(t, "info", name)
	for _, want := range []string{"Memory:", "/ 64MiB", "CPU limit:", "50% of one CPU", "PIDs limit:", "100", "OOM killed:", "PID", "USER", "/dev/.pocketdock-init"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("info table lacks %q (exit %d):\n%s", want, code, out)
		}
	}
	out, _, code = cli(t, "top", name)
	if code != 0 || !strings.Contains(out, "USER") || !strings.Contains(out, "root") || !strings.Contains(out, "/dev/.pocketdock-init") {
		t.Fatalf("top (exit %d):\n%s", code, out)
	}
	// The device is there and writable (rw).
	if out, errs, code := cli(t, "run", name, "-u", "root", "--", "echo x > /dev/pdnull && echo ok"); code != 0 || out != "ok\n" {
		t.Fatalf("device: %d %q %q", code, out, errs)
	}

	// Bad input: exit 125, the value named.
	_, errs, code = cli(t, "create", "--image", pythonImage, "--pull", "never", "--mem-limit", "abc")
	if code != 125 || !strings.Contains(errs, `"abc"`) || !strings.Contains(errs, "invalid argument") {
		t.Fatalf("bad --mem-limit: %d %q", code, errs)
	}
}
