package main

import (
	"errors"
	"testing"

	"github.com/pocketdock/pocketdock"
)

// TestBuildTargets: -f or a folder is a Dockerfile build; other arguments
// go through profileBuild (the hook profile names are wired into).
func TestBuildTargets(t *testing.T) {
	dir := t.TempDir()
	old := profileBuild
	t.Cleanup(func() { profileBuild = old })
	profileBuild = func(name string) (pocketdock.BuildOptions, bool, error) {
		if name == "prof" {
			return pocketdock.BuildOptions{DockerfileText: []byte("FROM x\n"), Tags: []string{"pocketdock/prof"}}, true, nil
		}
		return pocketdock.BuildOptions{}, false, nil
	}
	ts, err := buildTargets([]string{dir}, "", []string{"app"})
	if err != nil || len(ts) != 1 || ts[0].opts.ContextDir != dir || ts[0].opts.Tags[0] != "app" {
		t.Errorf("context: %+v %v", ts, err)
	}
	ts, err = buildTargets(nil, "Dockerfile.x", nil)
	if err != nil || len(ts) != 1 || ts[0].opts.ContextDir != "." || ts[0].opts.Dockerfile != "Dockerfile.x" {
		t.Errorf("-f without context: %+v %v", ts, err)
	}
	ts, err = buildTargets([]string{"prof"}, "", nil)
	if err != nil || len(ts) != 1 || string(ts[0].opts.DockerfileText) != "FROM x\n" || ts[0].opts.Tags[0] != "pocketdock/prof" {
		t.Errorf("profile: %+v %v", ts, err)
	}
	for _, args := range [][]string{nil, {"nope"}, {"prof", "prof"}} {
		tags := []string(nil)
		if len(args) == 2 {
			tags = []string{"x"}
		}
		if _, err := buildTargets(args, "", tags); !errors.Is(err, pocketdock.ErrInvalidArgument) {
			t.Errorf("%v: got %v, want ErrInvalidArgument", args, err)
		}
	}
}
