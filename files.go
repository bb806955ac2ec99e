package pocketdock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pocketdock/pocketdock/runtime/agent"
)

// DefaultListPath is the directory ListFiles lists when given "".
const DefaultListPath = "/home/sandbox"

// maxListBytes bounds a directory listing read from the agent (16 MiB).
const maxListBytes = 16 << 20

// MaxReadFile is the largest file ReadFile returns (1 GiB); use Pull for
// bigger ones.
const MaxReadFile = 1 << 30

// ctrPath makes p absolute in the container: relative paths are taken from
// the container's working directory.
func (c *Container) ctrPath(op, p string) (string, error) {
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("%s in %s: %w: path %q: want a non-empty path without NUL bytes", op, c.rec.Name, ErrInvalidArgument, p)
	}
	if !path.IsAbs(p) {
		p = path.Join(c.rec.Process.Cwd, p)
	}
	return path.Clean(p), nil
}

// fileOp dials the agent and runs one file request.
func (c *Container) fileOp(ctx context.Context, op string, req agent.FileRequest, r io.Reader, w io.Writer, max int64) error {
	conn, err := c.m.Dial(ctx, c.rec)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", op, c.rec.Name, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	err = conn.File(req, r, w, max)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s in %s: %w", op, c.rec.Name, cerr)
		}
		return fmt.Errorf("%s in %s: %w", op, c.rec.Name, c.m.AgentErr(c.rec, err))
	}
	return nil
}

// WriteFile writes data to path in the container (created with mode 0644,
// or truncated; missing parent directories are made), owned by the image's
// user. The agent does it inside the container, so the path resolves as the
// container sees it (volumes included) and cannot reach the host.
func (c *Container) WriteFile(ctx context.Context, p string, data []byte) error {
	p, err := c.ctrPath("write file", p)
	if err != nil {
		return err
	}
	u := c.rec.Process
	return c.fileOp(ctx, "write file", agent.FileRequest{Op: agent.FileWrite, Path: p, UID: u.UID, GID: u.GID}, bytes.NewReader(data), nil, 0)
}

// ReadFile returns the content of the regular file path in the container
// (at most MaxReadFile bytes; more is an error). Errors match os.ErrNotExist and friends when the agent reports an errno.
func (c *Container) ReadFile(ctx context.Context, p string) ([]byte, error) {
	p, err := c.ctrPath("read file", p)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := c.fileOp(ctx, "read file", agent.FileRequest{Op: agent.FileRead, Path: p}, nil, &buf, MaxReadFile); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ListFiles lists the names in directory p of the container ("" =
// DefaultListPath), sorted as the directory returns them; directories end
// in "/".
func (c *Container) ListFiles(ctx context.Context, p string) ([]string, error) {
	if p == "" {
		p = DefaultListPath
	}
	p, err := c.ctrPath("list files", p)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := c.fileOp(ctx, "list files", agent.FileRequest{Op: agent.FileList, Path: p}, nil, &buf, maxListBytes); err != nil {
		return nil, err
	}
	names := []string{}
	for _, n := range strings.Split(buf.String(), "\x00") {
		if n == "" {
			continue
		}
		if n == "/" || n == "./" || n == "../" || strings.Contains(strings.TrimSuffix(n, "/"), "/") {
			return nil, fmt.Errorf("list files in %s: %w: bad name %q from the agent", c.rec.Name, agent.ErrProtocol, n)
		}
		names = append(names, n)
	}
	return names, nil
}

// Push copies hostSrc (a file, a symlink or a whole directory) into the
// container at ctrDst — into ctrDst/<base of hostSrc> when ctrDst is an
// existing directory. Modes, mtimes and symlinks (as links) are kept; the
// copies belong to the image's user. Data is streamed.
func (c *Container) Push(ctx context.Context, hostSrc, ctrDst string) error {
	dst, err := c.ctrPath("push", ctrDst)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(hostSrc); err != nil {
		return fmt.Errorf("push to %s: %w", c.rec.Name, err)
	}
	abs, err := filepath.Abs(hostSrc)
	if err != nil {
		return err
	}
	name := filepath.Base(abs)
	if name == "/" || name == "." {
		name = ""
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(agent.WriteTree(pw, abs)) }()
	u := c.rec.Process
	err = c.fileOp(ctx, "push", agent.FileRequest{Op: agent.FilePush, Path: dst, Name: name, UID: u.UID, GID: u.GID}, pr, nil, 0)
	pr.CloseWithError(io.ErrClosedPipe)
	return err
}

// Pull copies ctrSrc (a file, a symlink or a whole directory) from the
// container to hostDst — into hostDst/<base of ctrSrc> when hostDst is an
// existing directory. Modes and mtimes are kept, symlinks are made as links
// and never followed, and no archive entry can land outside the destination
// (the host creates each one beneath it with openat2 RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS). setuid, setgid and sticky bits are dropped. Data is
// streamed.
func (c *Container) Pull(ctx context.Context, ctrSrc, hostDst string) error {
	src, err := c.ctrPath("pull", ctrSrc)
	if err != nil {
		return err
	}
	target, err := filepath.Abs(hostDst)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(target); err == nil && fi.IsDir() && path.Base(src) != "/" {
		target = filepath.Join(target, path.Base(src))
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	extractErr := make(chan error, 1)
	go func() {
		err := agent.ExtractTree(pr, target, agent.ExtractOptions{})
		io.Copy(io.Discard, pr)
		pr.Close()
		extractErr <- err
	}()
	err = c.fileOp(ctx, "pull", agent.FileRequest{Op: agent.FilePull, Path: src}, nil, pw, 0)
	pw.Close()
	xerr := <-extractErr
	if err != nil {
		return err
	}
	if xerr != nil {
		if errors.Is(xerr, agent.ErrInvalidRequest) {
			return fmt.Errorf("pull from %s: %w: %v", c.rec.Name, ErrInvalidArgument, xerr)
		}
		return fmt.Errorf("pull from %s: %w", c.rec.Name, xerr)
	}
	return nil
}
