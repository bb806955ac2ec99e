package test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

// A detached fork bomb that fills the pids limit is killed as a job (the
// same tree kill as a run's timeout): Wait reports the SIGKILL, nothing of
// it is left, and the container runs commands again.
func TestDetachedForkBombIsKilled(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage, PidsLimit: 64})
	ctx := context.Background()
	bomb := "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n"
	p, err := c.Detach(ctx, bomb, pocketdock.WithLang("python"))
	if err != nil {
		t.Fatal(err)
	}
	// Until the bomb has met the limit.
	deadline := time.Now().Add(60 * time.Second)
	for keyValue(t, cgroupFile(t, c.ID(), "pids", "pids.events", "pids.events"), "max") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the bomb did not reach the pids limit in 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := p.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := p.Wait(wctx)
	if err != nil {
		t.Fatalf("wait for the killed bomb: %+v %v", res, err)
	}
	if res.ExitCode != 128+int(syscall.SIGKILL) {
		t.Fatalf("killed bomb: exit %d, want 137 (%+v)", res.ExitCode, res)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		procs := cgroupProcs(t, c.ID())
		res, err := c.Run(ctx, "echo alive")
		if err == nil && res.Stdout == "alive\n" && len(procs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the killed bomb: %+v %v, %d processes in the container", res, err, len(procs))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
