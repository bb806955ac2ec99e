package test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pocketdock/pocketdock"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// TestOwnIDsWatch: the watch learns the IDs of record folders made after it
// started and of those already there, keeps an ID after its folder is gone,
// knows the 12-digit short form, and knows nothing else.
func TestOwnIDsWatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "containers")
	early, late, other := pdrt.NewID(), pdrt.NewID(), pdrt.NewID()
	if err := os.MkdirAll(filepath.Join(dir, early), 0o700); err != nil {
		t.Fatal(err)
	}
	w := &idWatch{fd: -1, ids: map[string]bool{}}
	if err := w.watch(dir); err != nil {
		t.Fatal(err)
	}
	defer w.close()
	for _, name := range []string{late, "not-an-id", ".lock"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, late)); err != nil {
		t.Fatal(err)
	}
	mine := w.owner()
	for _, id := range []string{early, late, late[:12]} {
		if !mine(id) {
			t.Errorf("%s not known", id)
		}
	}
	for _, id := range []string{other, other[:12], "not-an-id", ".lock"} {
		if mine(id) {
			t.Errorf("%s taken as this root's", id)
		}
	}
	if len(w.ids) != 2 {
		t.Errorf("ids %v, want %s and %s", w.ids, early, late)
	}
}

// TestLeakScope: hostState counts a cgroup of a container of this root even
// when its record is gone (a leak), but not the cgroup of a container of
// another state root, be it a real container made meanwhile or a bare
// cgroup folder (both made and removed by this test).
func TestLeakScope(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	ownIDs.mu.Lock()
	strict := ownIDs.strict
	ownIDs.mu.Unlock()
	if strict != "" {
		t.Fatalf("leak checks are not scoped to the state root: %s", strict)
	}
	// A real container of another state root, made and removed between snapshots.
	other := newRoot(t)
	before := hostState(t)
	oc, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: other, Pull: "never", Network: "none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { oc.Destroy(ctx) })
	if len(cgroupDirs(oc.ID())) == 0 {
		t.Fatalf("the other root's container %s has no cgroup", oc.ID())
	}
	if d := diffState(before, hostState(t)); len(d) > 0 {
		t.Errorf("another root's live container counts as this root's: %v", d)
	}
	if err := oc.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if d := diffState(before, hostState(t)); len(d) > 0 {
		t.Errorf("another root's destroyed container: %v", d)
	}

	// Bare cgroup folders: one for an ID whose record came and went in this
	// root, one for an ID this root never had.
	parent := "/sys/fs/cgroup/pids/pocketdock"
	if cgroupV2() {
		parent = "/sys/fs/cgroup/pocketdock"
	}
	mine, foreign := pdrt.NewID(), pdrt.NewID()
	p, err := pdrt.ResolvePaths(stateRoot)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p.RecordDir(mine), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p.RecordDir(mine)); err != nil {
		t.Fatal(err)
	}
	before = hostState(t)
	for _, id := range []string{mine, foreign} {
		dir := filepath.Join(parent, id)
		// Another run may remove an empty parent at any time: retry.
		madeParent := false
		for i := 0; ; i++ {
			err := os.Mkdir(parent, 0o755)
			madeParent = madeParent || err == nil
			if err == nil || os.IsExist(err) {
				err = os.Mkdir(dir, 0o755)
			}
			if err == nil {
				break
			} else if i == 10 {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			if err := os.Remove(dir); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			if madeParent {
				os.Remove(parent) // only when empty: rmdir fails otherwise
			}
		})
	}
	want := []string{"cgroup " + filepath.Join(parent, mine)}
	if d := diffState(before, hostState(t)); !slices.Equal(d, want) {
		t.Errorf("added %v, want %v", d, want)
	}
	if l := leftOf(t, foreign); len(l) != 1 || !strings.HasSuffix(l[0], foreign) {
		t.Errorf("leftOf(%s) %v, want its cgroup (a test that names an ID owns it)", foreign, l)
	}
}
