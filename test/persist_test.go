package test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// status returns the live status of the container named name, as list shows it.
func status(t *testing.T, name string) string {
	t.Helper()
	list, err := pocketdock.ListContainersIn(context.Background(), stateRoot, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Name == name {
			return c.Status
		}
	}
	t.Fatalf("%s not listed", name)
	return ""
}

func mustRun(t *testing.T, c *pocketdock.Container, cmd string, opts ...pocketdock.RunOption) string {
	t.Helper()
	res, err := c.Run(context.Background(), cmd, opts...)
	if err != nil {
		t.Fatalf("run %q: %v", cmd, err)
	}
	if !res.OK() {
		t.Fatalf("run %q: %+v", cmd, res)
	}
	return res.Stdout
}

// simulateReboot makes container id look as it does after a host reboot:
// every process of it killed, its rootfs unmounted, its run directory
// emptied and a different boot ID in its record.
func simulateReboot(t *testing.T, id string) {
	t.Helper()
	m, err := pdrt.Open(stateRoot)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rec, err := m.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range cgroupProcs(t, id) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(cgroupProcs(t, id)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("processes of %s survive SIGKILL", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := unix.Unmount(rec.Rootfs, 0); err != nil {
		t.Fatalf("unmount rootfs %s: %v", rec.Rootfs, err)
	}
	runDir := m.Paths().RunDir(id)
	ents, _ := os.ReadDir(runDir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(runDir, e.Name()))
	}
	file := filepath.Join(m.Paths().RecordDir(id), "record.json")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	raw["boot_id"] = "00000000-0000-0000-0000-000000000000"
	data, _ = json.Marshal(raw)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPersistRoundTripAndReboot(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	vol := t.TempDir()
	roDir := t.TempDir()
	os.WriteFile(filepath.Join(roDir, "given"), []byte("from host\n"), 0o644)
	c := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "persist-rt", Persist: true,
		Volumes: map[string]string{vol: "/data"},
		Mounts:  []pocketdock.Mount{{Source: roDir, Target: "/data/ro", ReadOnly: true}}})
	mustRun(t, c, "echo kept > /root/file; echo vol > /data/v.txt")
	if b, err := os.ReadFile(filepath.Join(vol, "v.txt")); err != nil || string(b) != "vol\n" {
		t.Fatalf("volume file on the host: %q %v", b, err)
	}
	if out := mustRun(t, c, "cat /data/ro/given"); out != "from host\n" {
		t.Fatalf("ro mount: %q", out)
	}
	if res, _ := c.Run(ctx, "touch /data/ro/x"); res.OK() {
		t.Fatal("write to a read-only mount succeeded")
	}

	if err := c.Shutdown(ctx, false); err != nil {
		t.Fatal(err)
	}
	if st := status(t, "persist-rt"); st != "exited" {
		t.Fatalf("after shutdown: %s", st)
	}
	if _, err := c.Run(ctx, "true"); !errors.Is(err, pocketdock.ErrContainerNotRunning) {
		t.Fatalf("run on a stopped container: %v", err)
	}
	if _, err := pocketdock.ResumeContainerIn(ctx, stateRoot, "persist-rt"); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, c, "cat /root/file /data/v.txt /data/ro/given"); out != "kept\nvol\nfrom host\n" {
		t.Fatalf("after resume: %q", out)
	}

	// The host reboots.
	simulateReboot(t, c.ID())
	if st := status(t, "persist-rt"); st != "exited" {
		t.Fatalf("after reboot: %s", st)
	}
	if _, err := c.Run(ctx, "true"); !errors.Is(err, pocketdock.ErrContainerNotRunning) {
		t.Fatalf("run after reboot: %v", err)
	}
	out, errs, code := cli(t, "resume", "persist-rt")
	if code != 0 {
		t.Fatalf("cli resume: %d %q %q", code, out, errs)
	}
	if st := status(t, "persist-rt"); st != "running" {
		t.Fatalf("after resume: %s", st)
	}
	if out := mustRun(t, c, "cat /root/file /data/v.txt /data/ro/given; echo more >> /root/file"); out != "kept\nvol\nfrom host\n" {
		t.Fatalf("after reboot and resume: %q", out)
	}
	if res, _ := c.Run(ctx, "touch /data/ro/x"); res.OK() {
		t.Fatal("read-only mount writable after resume")
	}

	// stop (CLI) keeps it; destroy removes everything but the volume's files.
	if out, errs, code := cli(t, "stop", "persist-rt"); code != 0 {
		t.Fatalf("cli stop: %d %q %q", code, out, errs)
	}
	if st := status(t, "persist-rt"); st != "exited" {
		t.Fatalf("after stop: %s", st)
	}
	if err := pocketdock.DestroyContainerIn(ctx, stateRoot, "persist-rt"); err != nil {
		t.Fatal(err)
	}
	if left := leftOf(t, c.ID()); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "v.txt")); err != nil || string(b) != "vol\n" {
		t.Fatalf("volume file after destroy: %q %v", b, err)
	}
}

func TestNonPersistStopKeeps(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	mustRun(t, c, "echo x > /root/f")
	if err := c.Stop(ctx, true); err != nil {
		t.Fatal(err)
	}
	if st := status(t, c.Name()); st != "exited" {
		t.Fatalf("after stop: %s", st)
	}
	if err := c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, c, "cat /root/f"); out != "x\n" {
		t.Fatalf("after resume: %q", out)
	}
}

func TestVolumeErrors(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	before := rootState(t)
	cases := []struct {
		name   string
		opts   pocketdock.Options
		naming string
	}{
		{"missing host", pocketdock.Options{Volumes: map[string]string{dir + "/nope": "/data"}}, dir + "/nope"},
		{"relative target", pocketdock.Options{Volumes: map[string]string{dir: "data"}}, `"data"`},
		{"proc", pocketdock.Options{Volumes: map[string]string{dir: "/proc/x"}}, "/proc/x"},
		{"sys", pocketdock.Options{Volumes: map[string]string{dir: "/sys"}}, "/sys"},
		{"dev", pocketdock.Options{Mounts: []pocketdock.Mount{{Source: dir, Target: "/dev/../dev/x"}}}, "/dev/../dev/x"},
		{"root", pocketdock.Options{Mounts: []pocketdock.Mount{{Source: dir, Target: "/"}}}, `"/"`},
		{"twice", pocketdock.Options{Mounts: []pocketdock.Mount{{Source: dir, Target: "/a"}, {Source: dir, Target: "/a/"}}}, "/a"},
	}
	for _, tc := range cases {
		o := tc.opts
		o.Image, o.Root, o.Pull, o.Name = busyboxImage, stateRoot, "never", "vol-bad"
		c, err := pocketdock.CreateNewContainer(ctx, o)
		if err == nil {
			c.Destroy(ctx)
			t.Fatalf("%s: create succeeded", tc.name)
		}
		if !errors.Is(err, pocketdock.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.naming) {
			t.Fatalf("%s: %v (want ErrInvalidArgument naming %s)", tc.name, err, tc.naming)
		}
	}
	_, errs, code := cli(t, "create", "--image", busyboxImage, "--pull", "never", "-v", dir+"/nope:/data")
	if code != 125 || !strings.Contains(errs, dir+"/nope") {
		t.Fatalf("cli missing host path: %d %q", code, errs)
	}
	// Refused before any ID exists, so no cgroup can be made either.
	if added := diffState(before, rootState(t)); len(added) > 0 {
		t.Fatalf("left behind: %v", added)
	}
}

func TestVolumeDepthOrderCLI(t *testing.T) {
	needRoot(t)
	outer, inner := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(inner, "in"), []byte("inner\n"), 0o644)
	// The deeper mount is given first; it must still land on top of the outer one.
	out, errs, code := cli(t, "create", "--image", busyboxImage, "--pull", "never", "--name", "vol-order",
		"-v", inner+":/w/sub:ro", "-v", outer+":/w")
	if code != 0 {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	t.Cleanup(func() { cli(t, "rm", "vol-order") })
	out, errs, code = cli(t, "run", "vol-order", "--", "cat /w/sub/in; echo o > /w/o; touch /w/sub/x 2>/dev/null && echo writable; true")
	if code != 0 || out != "inner\n" {
		t.Fatalf("run: %d %q %q", code, out, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(outer, "o")); string(b) != "o\n" {
		t.Fatalf("outer volume: %q", b)
	}
	// Nothing was chowned: the host folders keep their owner and mode.
	fi, _ := os.Stat(outer)
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != uint32(os.Getuid()) {
		t.Fatalf("host folder owner changed: %d", st.Uid)
	}
}

func TestPauseUnpause(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := c.Info(ctx); err != nil || info.Status != "paused" {
		t.Fatalf("info while paused: %+v %v", info.Status, err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Run(ctx, "true"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, pocketdock.ErrContainerNotRunning) {
			t.Fatalf("run while paused: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run while paused hangs")
	}
	if _, _, code := cli(t, "unpause", c.Name()); code != 0 {
		t.Fatalf("cli unpause: %d", code)
	}
	mustRun(t, c, "true")
	if _, _, code := cli(t, "pause", c.Name()); code != 0 {
		t.Fatalf("cli pause: %d", code)
	}
	// Destroy works on a paused container.
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if left := leftOf(t, c.ID()); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if err := c.Pause(ctx); !errors.Is(err, pocketdock.ErrContainerNotFound) {
		t.Fatalf("pause after destroy: %v", err)
	}
}

func TestReboot(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	vol := t.TempDir()
	c := newContainer(t, pocketdock.Options{Image: busyboxImage, Volumes: map[string]string{vol: "/vol"}, Env: []string{"KEEP=me"}})
	mustRun(t, c, "echo f > /root/f; echo v > /vol/v")
	pid1 := func() int {
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.PID1
	}
	before := pid1()
	if err := c.Reboot(ctx, false); err != nil {
		t.Fatal(err)
	}
	if pid1() == before {
		t.Fatal("reboot kept PID 1")
	}
	if out := mustRun(t, c, "cat /root/f /vol/v; echo $KEEP"); out != "f\nv\nme\n" {
		t.Fatalf("after reboot: %q", out)
	}
	if _, errs, code := cli(t, "reboot", "--fresh", c.Name()); code != 0 {
		t.Fatalf("reboot --fresh: %d %q", code, errs)
	}
	c2, err := pocketdock.GetContainerIn(ctx, stateRoot, c.Name())
	if err != nil || c2.ID() != c.ID() {
		t.Fatalf("after fresh reboot: %v", err)
	}
	if out := mustRun(t, c2, "test -e /root/f && echo still; cat /vol/v; echo $KEEP"); out != "v\nme\n" {
		t.Fatalf("after fresh reboot: %q", out)
	}
	if left := diffState(nil, leftOf(t, c.ID())); len(left) == 0 {
		t.Fatal("container vanished")
	}
}

func TestPrune(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	a := newContainer(t, pocketdock.Options{Image: busyboxImage, Project: "prune-p", Persist: true})
	b := newContainer(t, pocketdock.Options{Image: busyboxImage, Project: "prune-p"})
	other := newContainer(t, pocketdock.Options{Image: busyboxImage, Project: "prune-q", Persist: true})
	if err := a.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := other.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	n, err := pocketdock.PruneIn(ctx, stateRoot, "prune-p")
	if err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if left := leftOf(t, a.ID()); len(left) > 0 {
		t.Fatalf("pruned container left: %v", left)
	}
	mustRun(t, b, "true")
	if _, err := pocketdock.GetContainerIn(ctx, stateRoot, other.ID()); err != nil {
		t.Fatalf("other project's container: %v", err)
	}
	if _, _, code := cli(t, "prune", "--project", "prune-q"); code != 125 {
		t.Fatalf("prune without -y and no terminal: %d", code)
	}
	out, errs, code := cli(t, "prune", "-y", "--project", "prune-q")
	if code != 0 || strings.TrimSpace(out) != "removed 1" {
		t.Fatalf("cli prune: %d %q %q", code, out, errs)
	}
}
