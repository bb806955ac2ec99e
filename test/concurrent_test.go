package test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/pocketdock/pocketdock"
)

func TestConcurrentCreateSameName(t *testing.T) {
	needRoot(t)
	before := rootState(t)
	const n = 20
	type outcome struct {
		code         int
		stdout, errs string
	}
	results := make([]outcome, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := exec.Command(cliBin, "--root", stateRoot, "create", "--image", busyboxImage, "--pull", "never", "--name", "same")
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				code = -1
			}
			results[i] = outcome{code, out.String(), errb.String()}
		}(i)
	}
	wg.Wait()
	t.Cleanup(func() { cli(t, "rm", "same") })
	ok := 0
	for _, r := range results {
		switch {
		case r.code == 0 && strings.TrimSpace(r.stdout) == "same":
			ok++
		case r.code == 125 && strings.Contains(r.errs, `container name "same" is already used`):
		default:
			t.Errorf("unexpected outcome: %+v", r)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1", ok)
	}
	if out, _, code := cli(t, "run", "same", "--", "echo up"); code != 0 || out != "up\n" {
		t.Fatalf("the winner does not run: %d %q", code, out)
	}
	c, err := pocketdock.GetContainerIn(context.Background(), stateRoot, "same")
	if err != nil {
		t.Fatal(err)
	}
	if _, errs, code := cli(t, "rm", "same"); code != 0 {
		t.Fatalf("rm: %d %q", code, errs)
	}
	if added := diffState(before, rootState(t)); len(added) > 0 {
		t.Fatalf("left behind: %v", added)
	}
	if left := leftOf(t, c.ID()); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}
