package runtime

import (
	"errors"
	"testing"
)

func TestCheckProcess(t *testing.T) {
	for _, bad := range []Process{
		{Env: []string{"A=b\x00c"}, Cwd: "/"},
		{Env: []string{"NOEQUALS"}, Cwd: "/"},
		{Env: []string{"=v"}, Cwd: "/"},
		{Env: []string{"A=b"}, Cwd: "/tmp\x00x"},
	} {
		if err := checkProcess(&bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: want ErrInvalidArgument, got %v", bad, err)
		}
	}
	for cwd, want := range map[string]string{"": "/", "/": "/", "app": "/app", "../../x": "/x", "/a/../b/": "/b"} {
		p := Process{Env: []string{"A=b", "EMPTY="}, Cwd: cwd}
		if err := checkProcess(&p); err != nil || p.Cwd != want {
			t.Errorf("cwd %q: got %q, %v; want %q", cwd, p.Cwd, err, want)
		}
	}
}
