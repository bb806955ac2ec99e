package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateMountsOrderAndNormalise(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ValidateMounts([]Mount{
		{Source: dir, Target: "/a/b/c"},
		{Source: rel, Target: "/a/", ReadOnly: true},
		{Source: dir, Target: "/x/../b"},
		{Source: dir, Target: "/a/b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{{dir, "/a", true}, {dir, "/b", false}, {dir, "/a/b", false}, {dir, "/a/b/c", false}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("mount %d: got %+v, want %+v (all: %+v)", i, got[i], want[i], got)
		}
	}
}

func TestValidateMountsRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		m      Mount
		naming string
	}{
		{Mount{Source: dir + "/missing", Target: "/d"}, dir + "/missing"},
		{Mount{Source: "", Target: "/d"}, "empty host path"},
		{Mount{Source: dir, Target: "d"}, `"d"`},
		{Mount{Source: dir, Target: "/"}, `"/"`},
		{Mount{Source: dir, Target: "/a/.."}, `"/a/.."`},
		{Mount{Source: dir, Target: "/proc"}, "/proc"},
		{Mount{Source: dir, Target: "/proc/x"}, "/proc/x"},
		{Mount{Source: dir, Target: "/sys/fs"}, "/sys/fs"},
		{Mount{Source: dir, Target: "/dev/.pocketdock-init"}, "/dev/.pocketdock-init"},
		{Mount{Source: dir, Target: "/tmp/../dev"}, "/tmp/../dev"},
	} {
		_, err := ValidateMounts([]Mount{tc.m})
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.naming) {
			t.Errorf("%+v: %v (want ErrInvalidArgument naming %s)", tc.m, err, tc.naming)
		}
	}
	// /procx and /device are ordinary paths.
	if _, err := ValidateMounts([]Mount{{Source: dir, Target: "/procx"}, {Source: dir, Target: "/device"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ValidateMounts([]Mount{{Source: dir, Target: "/a"}, {Source: dir, Target: "/a/"}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("duplicate target: %v", err)
	}
}
