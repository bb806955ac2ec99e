package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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
	// No argument and no -f, no Dockerfile here: every profile.
	oldAll := allProfiles
	t.Cleanup(func() { allProfiles = oldAll })
	allProfiles = func() []string { return []string{"prof"} }
	t.Chdir(dir)
	ts, err = buildTargets(nil, "", nil)
	if err != nil || len(ts) != 1 || ts[0].what != "prof" {
		t.Errorf("no arguments: %+v %v, want the profiles", ts, err)
	}
	if _, err := buildTargets(nil, "", []string{"x"}); !errors.Is(err, pocketdock.ErrInvalidArgument) {
		t.Errorf("-t with all profiles: got %v, want ErrInvalidArgument", err)
	}
	// With a Dockerfile here: the current folder, as docker build . does.
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err = buildTargets(nil, "", []string{"app"})
	if err != nil || len(ts) != 1 || ts[0].opts.ContextDir != "." || ts[0].opts.Tags[0] != "app" {
		t.Errorf("no arguments, Dockerfile here: %+v %v", ts, err)
	}
	ts, err = buildTargets([]string{"prof"}, "", nil)
	if err != nil || len(ts) != 1 || string(ts[0].opts.DockerfileText) != "FROM x\n" || ts[0].opts.Tags[0] != "pocketdock/prof" {
		t.Errorf("profile: %+v %v", ts, err)
	}
	for _, args := range [][]string{{"nope"}, {"prof", "prof"}} {
		tags := []string(nil)
		if len(args) == 2 {
			tags = []string{"x"}
		}
		if _, err := buildTargets(args, "", tags); !errors.Is(err, pocketdock.ErrInvalidArgument) {
			t.Errorf("%v: got %v, want ErrInvalidArgument", args, err)
		}
	}
	// A profile and a context folder: the folder is named as a context
	// folder build takes alone (it was called "neither a profile nor a
	// context folder").
	if _, err := buildTargets([]string{"prof", dir}, "", nil); !errors.Is(err, pocketdock.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "is a context folder, which build takes alone") {
		t.Errorf("profile and folder: %v", err)
	}
}

// TestProfileBuild: the real hook resolves the six profiles to their
// embedded Dockerfile and image tag, and nothing else.
func TestProfileBuild(t *testing.T) {
	for _, p := range pocketdock.ListProfiles() {
		o, ok, err := profileBuild(p.Name)
		if err != nil || !ok || string(o.DockerfileText) != p.Dockerfile || len(o.Tags) != 1 || o.Tags[0] != p.ImageTag {
			t.Errorf("%s: %+v %v %v", p.Name, o.Tags, ok, err)
		}
	}
	if _, ok, _ := profileBuild("nope"); ok {
		t.Error("nope is a profile")
	}
	if got := allProfiles(); len(got) != 6 || got[0] != "minimal-python" {
		t.Errorf("allProfiles = %v", got)
	}
}
