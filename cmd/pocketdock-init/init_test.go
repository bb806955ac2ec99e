package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		state   byte
		ppid    int
		session int
		ok      bool
	}{
		{"123 (sleep) S 45 123 45 0 -1", 'S', 45, 45, true},
		{"7 (a) b) (c) Z 1 7 7", 'Z', 1, 7, true},
		{"9 (with space) R 3 9 8 0", 'R', 3, 8, true},
		{"9 (short) R 3 9", 0, 0, 0, false},
		{"9 (broken", 0, 0, 0, false},
		{"9 (x) S notanumber 1 1", 0, 0, 0, false},
	} {
		e, ok := parseStat([]byte(tc.in))
		if ok != tc.ok || (ok && (e.state != tc.state || e.ppid != tc.ppid || e.session != tc.session)) {
			t.Errorf("parseStat(%q) = %+v, %v", tc.in, e, ok)
		}
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	exe := write("prog", 0o755)
	write("noexec", 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	other := t.TempDir()
	exe2 := filepath.Join(other, "noexec")
	os.WriteFile(exe2, []byte("#!/bin/sh\n"), 0o755)
	root := creds{}
	user := creds{uid: 4242, gid: 4242}

	env := []string{"PATH=/nonexistent:" + dir}
	if p, code, _ := lookPath("prog", env, "/", root); code != 0 || p != exe {
		t.Errorf("prog: %q %d", p, code)
	}
	if _, code, msg := lookPath("missing", env, "/", root); code != 127 || msg == "" {
		t.Errorf("missing: %d %q", code, msg)
	}
	if _, code, _ := lookPath("noexec", env, "/", root); code != 126 {
		t.Errorf("noexec: %d, want 126", code)
	}
	// Like execvp, a non-executable match is skipped for a later one.
	if p, code, _ := lookPath("noexec", []string{"PATH=" + dir + ":" + other}, "/", root); code != 0 || p != exe2 {
		t.Errorf("noexec then exec: %q %d", p, code)
	}
	if _, code, _ := lookPath("sub", env, "/", root); code != 126 {
		t.Errorf("directory: %d, want 126", code)
	}
	// Names with a slash are taken relative to the working directory.
	if p, code, _ := lookPath("./prog", nil, dir, root); code != 0 || p != exe {
		t.Errorf("./prog: %q %d", p, code)
	}
	if _, code, _ := lookPath("./prog", nil, "/", root); code != 127 {
		t.Errorf("./prog from /: %d, want 127", code)
	}
	// An empty PATH element is the working directory.
	if p, code, _ := lookPath("prog", []string{"PATH=/nonexistent::"}, dir, root); code != 0 || p != exe {
		t.Errorf("empty PATH element: %q %d", p, code)
	}
	// Permission bits are checked for the command's user.
	os.Chown(exe, 0, 0)
	os.Chmod(exe, 0o700)
	if os.Geteuid() == 0 {
		if _, code, _ := lookPath("prog", env, "/", user); code != 126 {
			t.Errorf("0700 root file as uid 4242: %d, want 126", code)
		}
		if _, code, _ := lookPath("prog", env, "/", root); code != 0 {
			t.Errorf("0700 root file as root: %d, want 0", code)
		}
	}
	if v, ok := getenv([]string{"PATHX=1", "PATH=a", "PATH=b"}, "PATH"); !ok || v != "a" {
		t.Errorf("getenv: %q %v", v, ok)
	}
}
