package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pocketdock/pocketdock/runtime/agent"
)

// fileOp runs one file operation in the agent's own view, which is the
// container's mount namespace and root: no path can lead to the host. p is
// the host's pipe; it is closed here.
func fileOp(req *agent.FileRequest, p *os.File) error {
	defer p.Close()
	if err := req.Validate(); err != nil {
		return err
	}
	path := filepath.Clean(req.Path)
	switch req.Op {
	case agent.FileRead:
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return unwrapPathErr2(err, path)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return fmt.Errorf("%s: %w", path, syscall.EISDIR)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		_, err = io.Copy(p, f)
		return err
	case agent.FileWrite:
		if err := mkdirAllChown(filepath.Dir(path), int(req.UID), int(req.GID)); err != nil {
			return err
		}
		mode := fs.FileMode(req.Mode)
		if mode == 0 {
			mode = 0o644
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, mode)
		if err != nil {
			return unwrapPathErr2(err, path)
		}
		_, err = io.Copy(f, p)
		if err == nil {
			err = f.Chown(int(req.UID), int(req.GID))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	case agent.FileList:
		ents, err := os.ReadDir(path)
		if err != nil {
			return unwrapPathErr2(err, path)
		}
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() {
				name += "/"
			}
			if _, err := p.WriteString(name + "\x00"); err != nil {
				return err
			}
		}
		return nil
	case agent.FilePull:
		if _, err := os.Lstat(path); err != nil {
			return unwrapPathErr2(err, path)
		}
		return agent.WriteTree(p, path)
	case agent.FilePush:
		target := path
		if fi, err := os.Stat(path); err == nil && fi.IsDir() && req.Name != "" {
			target = filepath.Join(path, req.Name)
		}
		if err := mkdirAllChown(filepath.Dir(target), int(req.UID), int(req.GID)); err != nil {
			return err
		}
		err := agent.ExtractTree(p, target, agent.ExtractOptions{Chown: true, UID: int(req.UID), GID: int(req.GID), PermMask: 0o7777})
		io.Copy(io.Discard, p) // let the host finish writing
		return err
	}
	return fmt.Errorf("unknown file operation %q", req.Op)
}

// mkdirAllChown makes dir and its missing parents, owned by uid:gid.
func mkdirAllChown(dir string, uid, gid int) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: %w", dir, syscall.ENOTDIR)
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAllChown(parent, uid, gid); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return unwrapPathErr2(err, dir)
	}
	return os.Lchown(dir, uid, gid)
}

// unwrapPathErr2 keeps the errno of a *PathError with the path in front.
func unwrapPathErr2(err error, path string) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", path, pe.Err)
	}
	return err
}
