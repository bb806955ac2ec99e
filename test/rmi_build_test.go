package test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

// rmi -f on an image a build under way uses (its RUN container runs on
// it) refuses and removes nothing: neither the build's RUN container nor
// the other containers of the image. Once the build has ended, rmi -f
// removes the containers and the image.
func TestCLIRmiForceKeepsBuildUnderWay(t *testing.T) {
	ctx := context.Background()
	src := newContainer(t, pocketdock.Options{Image: busyboxImage})
	rnd := make([]byte, 4)
	_, _ = rand.Read(rnd)
	tag := hex.EncodeToString(rnd)
	base, child := "localhost/rmi-build-base:"+tag, "localhost/rmi-build-child:"+tag
	id, err := src.Snapshot(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cli(t, "rmi", child)
		cli(t, "rmi", "-f", id)
	})
	user := "rmi-build-user-" + tag
	if _, errs, code := cli(t, "create", "--image", base, "--name", user, "--pull", "never"); code != 0 {
		t.Fatalf("create: %d %q", code, errs)
	}
	t.Cleanup(func() { cli(t, "rm", user) })

	// A build FROM the image whose RUN waits for /go.
	b := startBuild(t, "FROM "+base+"\nRUN while [ ! -e /go ]; do sleep 0.1; done; echo went\n", "-t", child)
	runID := b.waitRun(t, "")

	// Refused with and without -f, naming the build's container; all stays.
	for _, args := range [][]string{{"rmi", "-f", base}, {"rmi", "--force", id[:12]}, {"rmi", base}} {
		out, errs, code := cli(t, args...)
		if code != 125 || !strings.Contains(errs, runID) || !strings.Contains(errs, "build") || strings.Contains(out, "Removed") {
			t.Errorf("%v during a build: %d %q %q; want 125 naming build container %s, nothing removed", args, code, out, errs, runID)
		}
	}
	if _, err := pocketdock.RemoveImageWith(ctx, stateRoot, base, pocketdock.RemoveImageOptions{Force: true}); !errors.Is(err, pocketdock.ErrImageInUse) {
		t.Errorf("RemoveImageWith(Force) during a build: %v; want ErrImageInUse", err)
	}
	ids := cliContainerIDs(t)
	if _, ok := ids[user]; !ok {
		t.Errorf("refused rmi -f removed container %s", user)
	}
	if _, ok := imageNames(t, cliRun{root: stateRoot})[id]; !ok {
		t.Errorf("refused rmi -f removed image %s", id)
	}

	// The build goes on and succeeds.
	if _, errs, code := cli(t, "exec", runID, "touch", "/go"); code != 0 {
		t.Fatalf("exec in the build's RUN container: %d %q", code, errs)
	}
	select {
	case <-b.exited:
		if b.err != nil {
			t.Fatalf("build after the refused rmi -f: %v\n%s", b.err, b.seen.String())
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("build did not end:\n%s", b.seen.String())
	}

	// Now rmi -f removes the container and the image.
	out, errs, code := cli(t, "rmi", "-f", base)
	if code != 0 || !strings.Contains(out, "Removed container "+user) {
		t.Fatalf("rmi -f after the build: %d %q %q", code, out, errs)
	}
	if _, ok := cliContainerIDs(t)[user]; ok {
		t.Errorf("rmi -f left container %s", user)
	}
}

// Two forced removals of one image at once: each container is reported
// removed by exactly one of them (the one that removed it), and the image
// and its containers are gone.
func TestRemoveImageForceConcurrent(t *testing.T) {
	ctx := context.Background()
	src := newContainer(t, pocketdock.Options{Image: busyboxImage})
	rnd := make([]byte, 4)
	_, _ = rand.Read(rnd)
	base := "localhost/rmi-twice:" + hex.EncodeToString(rnd)
	id, err := src.Snapshot(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = pocketdock.RemoveImageWith(ctx, stateRoot, id, pocketdock.RemoveImageOptions{Force: true})
	})
	want := map[string]bool{}
	for range 4 {
		c := newContainer(t, pocketdock.Options{Image: base})
		want[c.Name()] = true
	}
	type result struct {
		removed []string
		err     error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			removed, err := pocketdock.RemoveImageWith(ctx, stateRoot, id, pocketdock.RemoveImageOptions{Force: true})
			results <- result{removed, err}
		}()
	}
	seen := map[string]int{}
	ok := 0
	for range 2 {
		r := <-results
		if r.err == nil {
			ok++
		} else if !errors.Is(r.err, pocketdock.ErrImageNotFound) {
			t.Errorf("concurrent rmi -f: %v; want success or ErrImageNotFound (the other one removed it)", r.err)
		}
		for _, n := range r.removed {
			seen[n]++
		}
	}
	if ok == 0 {
		t.Error("neither concurrent rmi -f succeeded")
	}
	for n := range want {
		if seen[n] != 1 {
			t.Errorf("container %s reported removed %d times; want once", n, seen[n])
		}
	}
	for n := range seen {
		if !want[n] {
			t.Errorf("reported removed %s, which did not use the image", n)
		}
	}
	ids := cliContainerIDs(t)
	for n := range want {
		if _, ok := ids[n]; ok {
			t.Errorf("container %s still there", n)
		}
	}
	if _, ok := imageNames(t, cliRun{root: stateRoot})[id]; ok {
		t.Errorf("image %s still there", id)
	}
}
