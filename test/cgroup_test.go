package test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pocketdock/pocketdock"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// TestCgroupSmoke checks a container's cgroup on whichever layout the host
// has: it sits at /pocketdock/<id>, holds the container's processes, carries
// the default pids limit, denies devices outside the allow list (eBPF on v2)
// and is removed with the container. With POCKETDOCK_TEST_CGROUP=2 (the VM
// lane) it also fails unless the host is pure cgroup v2 with memory, cpu and
// pids delegated to the container.
func TestCgroupSmoke(t *testing.T) {
	needRoot(t)
	v2 := cgroupV2()
	if v2 {
		ctl, _ := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
		t.Logf("cgroup v2 (unified) at /sys/fs/cgroup, root subtree_control: %s", strings.TrimSpace(string(ctl)))
	} else {
		t.Logf("cgroup v1 (or hybrid) at /sys/fs/cgroup")
	}
	if want := os.Getenv(cgroupEnv); want == "2" && !v2 {
		t.Fatalf("%s=2 but /sys/fs/cgroup is not a cgroup v2 hierarchy", cgroupEnv)
	}

	ctx := context.Background()
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	dir := filepath.Join("/sys/fs/cgroup/pids/pocketdock", c.ID())
	if v2 {
		dir = filepath.Join("/sys/fs/cgroup/pocketdock", c.ID())
		ctl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"memory", "cpu", "pids"} {
			if !strings.Contains(" "+string(ctl)+" ", " "+want+" ") {
				t.Errorf("controller %s not enabled for the container; cgroup.controllers: %q", want, ctl)
			}
		}
	}
	if procs := cgroupProcs(t, c.ID()); len(procs) == 0 {
		t.Errorf("no process in %s", dir)
	}
	max, err := os.ReadFile(filepath.Join(dir, "pids.max"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(max)), strconv.Itoa(pdrt.DefaultPidsLimit); got != want {
		t.Errorf("%s/pids.max = %q, want the default limit %s", dir, got, want)
	}

	// mknod in /dev (a tmpfs without nodev) works (docker's default
	// capabilities) and an allowed device (1:3, /dev/null) opens, so a
	// refused 1:11 (/dev/kmsg, writable without any capability) is the
	// cgroup's device rule at work.
	res, err := c.Run(ctx, "mknod /dev/pd-null c 1 3 && echo x > /dev/pd-null && mknod /dev/pd-kmsg c 1 11 && echo ok")
	if err != nil || strings.TrimSpace(res.Stdout) != "ok" {
		t.Fatalf("mknod of allowed devices: %+v %v", res, err)
	}
	res, err = c.Run(ctx, "echo pocketdock-device-probe > /dev/pd-kmsg")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "not permitted") {
		t.Errorf("writing to a 1:11 node outside the device allow list: want EPERM, got %+v", res)
	}

	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s after destroy: %v", dir, err)
	}
}
