package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// defaultPath is searched when the command's environment has no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// creds are the credentials a command will run with, for permission checks.
type creds struct {
	uid, gid uint32
	groups   []uint32
}

// getenv returns the value of the first key=... entry of env.
func getenv(env []string, key string) (string, bool) {
	for _, e := range env {
		if len(e) > len(key) && e[len(key)] == '=' && e[:len(key)] == key {
			return e[len(key)+1:], true
		}
	}
	return "", false
}

// lookPath resolves name the way execvp does, in the command's view: a name
// with a slash is taken as is (relative to cwd), any other name is searched
// in the PATH of env (an empty element meaning cwd). It returns the path to
// execute, or an exit code (127 not found, 126 found but not executable)
// with a message for the command's stderr.
func lookPath(name string, env []string, cwd string, c creds) (path string, code int, msg string) {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(cwd, p)
	}
	if strings.Contains(name, "/") {
		p := abs(name)
		if code, why := checkExec(p, c); code != 0 {
			return "", code, name + ": " + why
		}
		return p, 0, ""
	}
	pathVar, ok := getenv(env, "PATH")
	if !ok {
		pathVar = defaultPath
	}
	denied := false
	for _, dir := range strings.Split(pathVar, ":") {
		if dir == "" {
			dir = "."
		}
		p := abs(filepath.Join(dir, name))
		switch code, _ := checkExec(p, c); code {
		case 0:
			return p, 0, ""
		case 126:
			denied = true
		}
	}
	if denied {
		return "", 126, name + ": permission denied"
	}
	return "", 127, name + ": command not found"
}

// checkExec tells whether p is a regular file that c may execute: 0 yes,
// 127 it does not exist, 126 anything else (with the reason). Root may
// execute a file with any execute bit set, like execve(2) allows.
func checkExec(p string, c creds) (int, string) {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
			return 127, "not found"
		}
		return 126, err.Error()
	}
	if fi.IsDir() {
		return 126, "is a directory"
	}
	if !fi.Mode().IsRegular() {
		return 126, "not a regular file"
	}
	perm := uint32(fi.Mode().Perm())
	st, ok := fi.Sys().(*syscall.Stat_t)
	var need uint32
	switch {
	case c.uid == 0 || !ok:
		need = 0o111
	case st.Uid == c.uid:
		need = 0o100
	case st.Gid == c.gid || contains(c.groups, st.Gid):
		need = 0o010
	default:
		need = 0o001
	}
	if perm&need == 0 {
		return 126, "permission denied"
	}
	return 0, ""
}

func contains(list []uint32, v uint32) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
