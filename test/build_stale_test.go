package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"syscall"
	"testing"

	"github.com/pocketdock/pocketdock"
)

// killBuildMidRun starts a CLI build whose RUN sleeps 100 s, kills the CLI
// with SIGKILL once the RUN has started, and returns the RUN container's
// short ID (its container stays behind: nobody removes it).
func killBuildMidRun(t *testing.T) string {
	t.Helper()
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	marker := "started-" + hex.EncodeToString(rnd) // no cache hit from an earlier run
	b := startBuild(t, "FROM pocketdock/busybox\nRUN echo "+marker+"; sleep 100\n")
	id := b.waitRun(t, marker)
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.exited
	t.Cleanup(func() {
		// Whatever the test did: the container goes.
		if c, err := pocketdock.GetContainerIn(context.Background(), stateRoot, id); err == nil {
			_ = c.Destroy(context.Background())
		}
	})
	return id
}

func doctorMentions(rep pocketdock.DoctorReport, id string) (orphan, fixed bool) {
	for _, o := range rep.Orphans {
		if strings.Contains(o, "build container pd-build-") && strings.Contains(o, id) {
			orphan = true
		}
	}
	for _, f := range rep.Fixed {
		if strings.Contains(f, id) {
			fixed = true
		}
	}
	return
}

// TestBuildKilledLeavesNothingForLong: a CLI build killed with SIGKILL
// mid-RUN leaves its RUN container; doctor reports it, the next build
// removes it; killed again, doctor --fix removes it. Nothing of either
// container is left.
func TestBuildKilledLeavesNothingForLong(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	id := killBuildMidRun(t)
	if _, err := pocketdock.GetContainerIn(ctx, stateRoot, id); err != nil {
		t.Fatalf("the killed build's container %s is not there (%v): nothing to test", id, err)
	}
	rep, err := pocketdock.DoctorWith(ctx, pocketdock.DoctorOptions{Root: stateRoot})
	if err != nil {
		t.Fatal(err)
	}
	if orphan, fixed := doctorMentions(rep, id); !orphan || fixed {
		t.Errorf("doctor: orphans %v fixed %v, want build container %s listed and nothing fixed", rep.Orphans, rep.Fixed, id)
	}
	if _, err := pocketdock.GetContainerIn(ctx, stateRoot, id); err != nil {
		t.Errorf("doctor without --fix removed %s: %v", id, err)
	}

	// The next build removes it, saying so.
	var progress bytes.Buffer
	if _, err := pocketdock.Build(ctx, pocketdock.BuildOptions{Root: stateRoot, DockerfileText: []byte("FROM pocketdock/busybox\nLABEL x=y\n"),
		Pull: "never", Network: "none", Progress: &progress}); err != nil {
		t.Fatalf("next build: %v\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "removed stale build container pd-build-") {
		t.Errorf("the next build did not say it removed the stale container:\n%s", progress.String())
	}
	if left := leftOf(t, id); len(left) > 0 {
		t.Errorf("after the next build, %s left %v", id, left)
	}

	// Killed again: doctor --fix (the CLI) removes it.
	id2 := killBuildMidRun(t)
	out, errs, code := cli(t, "doctor", "--fix")
	if code != 0 && code != 1 || !strings.Contains(out+errs, id2) {
		t.Errorf("doctor --fix: exit %d, %q %q, want %s named", code, out, errs, id2)
	}
	if left := leftOf(t, id2); len(left) > 0 {
		t.Errorf("after doctor --fix, %s left %v", id2, left)
	}
	rep, err = pocketdock.DoctorWith(ctx, pocketdock.DoctorOptions{Root: stateRoot})
	if err != nil {
		t.Fatal(err)
	}
	if orphan, _ := doctorMentions(rep, id2); orphan {
		t.Errorf("doctor after --fix still lists %s: %v", id2, rep.Orphans)
	}
}
