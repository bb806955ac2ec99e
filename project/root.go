package project

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// InitResult is what Init did.
type InitResult struct {
	// Root is the project root (absolute).
	Root string
	// Config is the project's config (the existing one on a re-init).
	Config Config
	// Existed reports a re-init: the config was there and was left as it was.
	Existed bool
}

// Init makes path a project root: it creates path (if missing),
// path/.pocketdock/, its instances/ folder and pocketdock.yaml with the
// defaults and project name name ("" = NameFromPath(path)). Like `git
// init`, running it again is harmless: an existing config is validated
// and kept as it is (a *ConfigError when it is bad, or when name differs
// from the existing project name, or when path is a file).
func Init(path, name string) (InitResult, error) {
	if path == "" {
		path = "."
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return InitResult{}, err
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return InitResult{}, &ConfigError{Field: "folder", Value: path, Allowed: "a folder to make a project in (this is a " + fileKind(fi.Mode()) + ")"}
	}
	if name != "" && !ValidName(name) {
		return InitResult{}, &ConfigError{Field: "project_name", Value: name, Allowed: "1 to 63 characters of [a-zA-Z0-9_.-], starting with a letter or digit"}
	}
	if existing, err := Load(abs); err == nil {
		if name != "" && name != existing.ProjectName {
			return InitResult{}, &ConfigError{File: ConfigPath(abs), Field: "project_name", Value: name,
				Allowed: fmt.Sprintf("the existing name %q (a re-init keeps the config; edit the file to rename)", existing.ProjectName)}
		}
		r, err := openRoot(abs)
		if err != nil {
			return InitResult{}, err
		}
		defer r.Close()
		if err := r.MkdirAll(rel(""), 0o755); err != nil {
			return InitResult{}, err
		}
		return InitResult{Root: abs, Config: existing, Existed: true}, nil
	} else if !errors.Is(err, ErrNotInitialized) {
		return InitResult{}, err
	}
	if name == "" {
		name = NameFromPath(abs)
	}
	cfg := Default(name)
	if err := cfg.Validate(); err != nil {
		return InitResult{}, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return InitResult{}, err
	}
	r, err := openRoot(abs)
	if err != nil {
		return InitResult{}, err
	}
	defer r.Close()
	if err := r.MkdirAll(rel(""), 0o755); err != nil {
		return InitResult{}, err
	}
	if err := writeFileAtomic(r, filepath.Join(DirName, ConfigName), cfg.Marshal(), 0o644); err != nil {
		return InitResult{}, err
	}
	own(r, DirName, rel(""), filepath.Join(DirName, ConfigName))
	return InitResult{Root: abs, Config: cfg}, nil
}

// FindRoot walks up from start ("" = the working directory) to the
// nearest folder holding .pocketdock/pocketdock.yaml and returns it
// (absolute). ErrNotInitialized (wrapped, naming start) when there is none
// up to /.
func FindRoot(start string) (string, error) {
	if start == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		start = wd
	}
	abs, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	for dir := abs; ; {
		if fi, err := os.Stat(ConfigPath(dir)); err == nil && fi.Mode().IsRegular() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no %s in %s or any folder above it (pocketdock init makes one)", ErrNotInitialized, filepath.Join(DirName, ConfigName), abs)
		}
		dir = parent
	}
}

// openRoot opens project root root for confined access: paths below it
// are resolved with os.Root, so no symbolic link in the project folder
// (which its owner may change at any time) leads a write or a removal
// outside it, even when pocketdock runs as root.
func openRoot(root string) (*os.Root, error) {
	return os.OpenRoot(root)
}

// own gives the paths below r (made by this process) to the owner of the
// project root folder, so a project made or used with sudo stays its
// owner's to edit and delete. Only root changes owners; a root-owned
// project root, or a failure, leaves them as they are.
func own(r *os.Root, paths ...string) {
	if os.Geteuid() != 0 {
		return
	}
	fi, err := r.Stat(".")
	if err != nil {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return
	}
	for _, p := range paths {
		r.Lchown(p, int(st.Uid), int(st.Gid)) //nolint:errcheck // best effort
	}
}

// rel is the path below a project root of .pocketdock/instances[/name[/elem…]].
func rel(name string, elem ...string) string {
	parts := []string{DirName, InstancesName}
	if name != "" {
		parts = append(parts, name)
	}
	return filepath.Join(append(parts, elem...)...)
}

// writeFileAtomic writes data to a temp file next to path (below r),
// syncs it and renames it over path.
func writeFileAtomic(r *os.Root, path string, data []byte, mode os.FileMode) error {
	var rb [6]byte
	rand.Read(rb[:])
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp"+hex.EncodeToString(rb[:]))
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.Rename(tmp, path)
	}
	if err != nil {
		r.Remove(tmp)
	}
	return err
}
