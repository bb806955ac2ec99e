package pocketdock

import (
	"errors"
	"strings"
	"testing"

	"github.com/kballard/go-shellquote"

	"github.com/pocketdock/pocketdock/project"
)

func TestRunCommandText(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"/bin/sh", "-c", "echo a; exit 3"}, "echo a; exit 3"},
		{[]string{"sh", "-c", "exit 3"}, "sh -c 'exit 3'"},
		{[]string{"python3", "-c", "print('x')"}, ""},
		{[]string{"ls", "a b", ""}, ""},
	} {
		got := runCommandText(tc.argv)
		if tc.want != "" {
			if got != tc.want {
				t.Errorf("runCommandText(%q) = %q, want %q", tc.argv, got, tc.want)
			}
			continue
		}
		// Anything but a plain Run: shell-quoted, so a shell splits it back.
		back, err := shellquote.Split(got)
		if err != nil || strings.Join(back, "\x00") != strings.Join(tc.argv, "\x00") {
			t.Errorf("runCommandText(%q) = %q, which splits into %q (%v)", tc.argv, got, back, err)
		}
	}
}

func TestProjectErrors(t *testing.T) {
	_, err := project.Parse([]byte("retention_days: -2\n"), "f.yaml", "p")
	wrapped := projectErr("create", err)
	if !errors.Is(wrapped, ErrInvalidArgument) || !errors.Is(wrapped, project.ErrInvalidConfig) {
		t.Fatalf("a config error must match ErrInvalidArgument: %v", wrapped)
	}
	if _, err := FindProjectRoot(t.TempDir()); !errors.Is(err, ErrProjectNotInitialized) || errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("FindProjectRoot outside a project: %v", err)
	}
	if _, err := InitProject(t.TempDir(), "-bad"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("InitProject bad name: %v", err)
	}
}
