package test

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// eventually polls f every 50 ms for up to d.
func eventually(d time.Duration, f func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if f() {
			return true
		}
	}
	return f()
}

func TestDetachRingBufferKillWait(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	p, err := c.Detach(ctx, "yes | head -c 5000000; setsid sleep 1234 & sleep 100")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID() < 1 {
		t.Fatalf("job id %d", p.ID())
	}
	if !eventually(30*time.Second, func() bool {
		in, err := p.Info(ctx)
		return err == nil && in.StdoutBytes >= 5000000
	}) {
		t.Fatal("the job did not write 5 MB")
	}
	if running, err := p.IsRunning(ctx); err != nil || !running {
		t.Fatalf("IsRunning: %v %v", running, err)
	}
	if of, err := p.BufferOverflow(ctx); err != nil || !of {
		t.Fatalf("BufferOverflow: %v %v", of, err)
	}
	snap, err := p.Peek(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Stdout) != pocketdock.DefaultBufferSize || strings.Trim(snap.Stdout, "y\n") != "" {
		t.Fatalf("Peek: %d bytes, want the last %d of y lines", len(snap.Stdout), pocketdock.DefaultBufferSize)
	}
	// 5000000 is even: the kept tail ends with a full "y\n".
	if !strings.HasSuffix(snap.Stdout, "y\n") {
		t.Fatalf("tail %q", snap.Stdout[len(snap.Stdout)-4:])
	}
	if n, err := p.BufferSize(ctx); err != nil || n != int64(pocketdock.DefaultBufferSize) {
		t.Fatalf("BufferSize: %d %v", n, err)
	}
	if r, err := c.Run(ctx, "ps -o args | grep -c '^sleep 1234'"); err != nil || strings.TrimSpace(r.Stdout) != "1" {
		t.Fatalf("setsid child before kill: %+v %v", r, err)
	}
	start := time.Now()
	if err := p.Kill(ctx, 0); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := p.Wait(wctx)
	if err != nil || res.ExitCode != 128+15 || !res.Truncated {
		t.Fatalf("Wait: %+v %v", res.ExitCode, err)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatal("kill took too long")
	}
	// The whole tree is gone, the setsid child included.
	if !eventually(10*time.Second, func() bool {
		r, err := c.Run(ctx, "ps -o args | grep -c '^sleep'")
		return err == nil && strings.TrimSpace(r.Stdout) == "0"
	}) {
		r, _ := c.Run(ctx, "ps -o pid,ppid,args")
		t.Fatalf("processes left after kill:\n%s", r.Stdout)
	}
	if running, err := p.IsRunning(ctx); err != nil || running {
		t.Fatalf("IsRunning after kill: %v %v", running, err)
	}
}

func TestDetachReadPeekCallbacks(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage})
	ctx := context.Background()
	var mu sync.Mutex
	var outs, errs strings.Builder
	exits := []int{}
	c.OnStdout(func(_ *pocketdock.Container, b []byte) { mu.Lock(); outs.Write(b); mu.Unlock() })
	c.OnStderr(func(_ *pocketdock.Container, b []byte) { mu.Lock(); errs.Write(b); mu.Unlock() })
	c.OnExit(func(_ *pocketdock.Container, code int) { mu.Lock(); exits = append(exits, code); mu.Unlock() })
	p, err := c.Detach(ctx, "echo one; echo e1 >&2; sleep 0.5; echo two; exit 3", pocketdock.WithBufferSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait(ctx)
	if err != nil || res.ExitCode != 3 || res.Stdout != "one\ntwo\n" || res.Stderr != "e1\n" || res.Truncated {
		t.Fatalf("Wait: %+v %v", res, err)
	}
	if snap, err := p.Peek(ctx); err != nil || snap.Stdout != "one\ntwo\n" {
		t.Fatalf("Peek: %+v %v", snap, err)
	}
	if snap, err := p.Read(ctx); err != nil || snap.Stdout != "one\ntwo\n" || snap.Stderr != "e1\n" {
		t.Fatalf("Read: %+v %v", snap, err)
	}
	if snap, err := p.Read(ctx); err != nil || snap.Stdout != "" || snap.Stderr != "" {
		t.Fatalf("Read again: %+v %v", snap, err)
	}
	if n, err := p.BufferSize(ctx); err != nil || n != 0 {
		t.Fatalf("BufferSize after Read: %d %v", n, err)
	}
	if !eventually(10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return outs.String() == "one\ntwo\n" && errs.String() == "e1\n" && len(exits) == 1 && exits[0] == 3
	}) {
		mu.Lock()
		t.Fatalf("callbacks: %q %q %v", outs.String(), errs.String(), exits)
	}
	// A handle from another lookup sees the same job; files are the
	// image user's, the job ran as that user.
	c2, err := pocketdock.GetContainerIn(ctx, stateRoot, c.Name())
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := c2.Jobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].ID != p.ID() || jobs[0].ExitCode != 3 || jobs[0].Running {
		t.Fatalf("Jobs: %+v %v", jobs, err)
	}
	if _, err := c2.Process(ctx, 99); !errors.Is(err, pocketdock.ErrInvalidArgument) {
		t.Fatalf("unknown job: %v", err)
	}
	if _, err := c.Detach(ctx, "true", pocketdock.WithBufferSize(-1)); !errors.Is(err, pocketdock.ErrInvalidArgument) {
		t.Fatalf("bad buffer size: %v", err)
	}
}

// withCmd writes a copy of the busybox fixture (a docker-archive) whose
// config has an ENTRYPOINT and CMD.
func withCmd(t *testing.T, entrypoint, cmd []string) string {
	t.Helper()
	in, err := os.Open(filepath.Join(repoRoot(), "test", "fixtures", "out", "busybox.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	outPath := filepath.Join(t.TempDir(), "busybox-cmd.tar")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	var manifest []map[string]any
	entries := map[string][]byte{}
	var order []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		entries[h.Name] = b
		order = append(order, h)
	}
	json.Unmarshal(entries["manifest.json"], &manifest)
	cfgName := manifest[0]["Config"].(string)
	var cfg map[string]any
	json.Unmarshal(entries[cfgName], &cfg)
	cc := cfg["config"].(map[string]any)
	cc["Entrypoint"], cc["Cmd"] = entrypoint, cmd
	newCfg, _ := json.Marshal(cfg)
	newName := fmt.Sprintf("%x.json", sha256.Sum256(newCfg))
	manifest[0]["Config"] = newName
	manifest[0]["RepoTags"] = []string{"pocketdock/busybox-cmd:latest"}
	entries["manifest.json"], _ = json.Marshal(manifest)
	for _, h := range order {
		b := entries[h.Name]
		if h.Name == cfgName {
			h.Name, b = newName, newCfg
		}
		h.Size = int64(len(b))
		tw.WriteHeader(h)
		tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return outPath
}

func TestImageCmdIsJob1(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	archive := withCmd(t, []string{"/bin/sh", "-c"}, []string{"echo from-cmd; sleep 1000"})
	if _, err := pocketdock.ImportImage(ctx, stateRoot, archive, "", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pocketdock.RemoveImage(ctx, stateRoot, "pocketdock/busybox-cmd") })
	c := newContainer(t, pocketdock.Options{Image: "pocketdock/busybox-cmd"})
	jobs, err := c.Jobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].ID != 1 || !jobs[0].Running || !strings.Contains(jobs[0].Command, "echo from-cmd") {
		t.Fatalf("jobs: %+v %v", jobs, err)
	}
	p, err := c.Process(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !eventually(10*time.Second, func() bool { s, err := p.Peek(ctx); return err == nil && s.Stdout == "from-cmd\n" }) {
		t.Fatal("job 1 output missing")
	}
	// PID 1 stays the agent.
	if r := mustRun(t, c, "cat /proc/1/cmdline | tr '\\0' ' '"); !strings.Contains(r, "pocketdock-init") {
		t.Fatalf("PID 1: %q", r)
	}
}

func TestJobsBadInputLeavesNothing(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	p, _ := pdrt.ResolvePaths(stateRoot)
	jobFiles := func() int { ents, _ := os.ReadDir(p.JobsDir(c.ID())); return len(ents) }
	before, files := hostState(t), jobFiles()
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, pocketdock.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	_, err := c.Detach(ctx, "true", pocketdock.WithBufferSize(1<<40))
	check("buffer size", err)
	_, err = c.Detach(ctx, "true", pocketdock.WithWorkdir("relative"))
	check("relative workdir", err)
	_, err = c.Detach(ctx, "true", pocketdock.WithLang("cobol"))
	check("language", err)
	_, err = c.Terminal(ctx, nil, 0, 0)
	check("empty terminal argv", err)
	check("empty push destination", c.Push(ctx, "/tmp", ""))
	// A job that cannot start (missing working directory) leaves no files.
	if _, err := c.Detach(ctx, "true", pocketdock.WithWorkdir("/no/such/dir")); err == nil || !strings.Contains(err.Error(), "/no/such/dir") {
		t.Errorf("missing workdir: %v", err)
	}
	if n := jobFiles(); n != files {
		t.Errorf("job files: %d before, %d after", files, n)
	}
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
