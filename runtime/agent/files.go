package agent

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// File operations (FileRequest.Op).
const (
	// FileRead: the agent writes the regular file Path's bytes into the pipe.
	FileRead = "read"
	// FileWrite: the agent writes the pipe's bytes into Path (created or
	// truncated, mode Mode, owned by UID:GID).
	FileWrite = "write"
	// FileList: the agent writes the names in directory Path into the pipe,
	// each ended by a NUL byte, directories with a trailing "/".
	FileList = "list"
	// FilePull: the agent writes Path (a file, directory tree or symlink)
	// into the pipe as a tar stream (see WriteTree).
	FilePull = "pull"
	// FilePush: the agent reads a tar stream (see WriteTree) from the pipe
	// and extracts it to Path — or to Path/Name when Path is an existing
	// directory — owned by UID:GID.
	FilePush = "push"
)

// FileRequest is one file operation, done by the agent in the container's
// mount namespace and root.
type FileRequest struct {
	// Op is one of FileRead, FileWrite, FileList, FilePull, FilePush.
	Op string `json:"op"`
	// Path is an absolute path in the container.
	Path string `json:"path"`
	// Name is the base name a push takes inside an existing directory Path.
	Name string `json:"name,omitempty"`
	// UID and GID own what write and push create.
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
	// Mode is the permission bits of a file that write creates (0 = 0644).
	Mode uint32 `json:"mode,omitempty"`
}

// Validate checks a FileRequest; errors wrap ErrInvalidRequest.
func (f *FileRequest) Validate() error {
	if f == nil {
		return fmt.Errorf("%w: missing file request", ErrInvalidRequest)
	}
	switch f.Op {
	case FileRead, FileWrite, FileList, FilePull, FilePush:
	default:
		return fmt.Errorf("%w: file operation %q: want read, write, list, pull or push", ErrInvalidRequest, f.Op)
	}
	if f.Path == "" || f.Path[0] != '/' || strings.IndexByte(f.Path, 0) >= 0 {
		return fmt.Errorf("%w: path %q: want an absolute path without NUL bytes", ErrInvalidRequest, f.Path)
	}
	if f.Name != "" && (f.Name == "." || f.Name == ".." || strings.ContainsAny(f.Name, "/\x00")) {
		return fmt.Errorf("%w: name %q: want a single path element", ErrInvalidRequest, f.Name)
	}
	if f.UID == ^uint32(0) || f.GID == ^uint32(0) || f.Mode > 0o7777 {
		return fmt.Errorf("%w: uid %d, gid %d, mode %o out of range", ErrInvalidRequest, f.UID, f.GID, f.Mode)
	}
	return nil
}

// File runs req on the agent. For read, list and pull the agent's output is
// copied to w (at most max bytes when max > 0, else without bound; more is
// an error wrapping ErrProtocol); for write and push r is copied to the
// agent. It returns once the agent reported the result. Errors: an
// *AgentError (matching the errno, e.g. os.ErrNotExist), the copy's error,
// ErrClosed, ErrProtocol.
func (c *Conn) File(req FileRequest, r io.Reader, w io.Writer, max int64) error {
	if err := req.Validate(); err != nil {
		return err
	}
	what := req.Op + " " + req.Path
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%s: pipe: %w", what, err)
	}
	toAgent := req.Op == FileWrite || req.Op == FilePush
	give, keep := pw, pr
	if toAgent {
		give, keep = pr, pw
	}
	err = c.write(&Message{Type: TypeFile, File: &req}, int(give.Fd()))
	runtime.KeepAlive(give)
	give.Close()
	if err != nil {
		keep.Close()
		return fmt.Errorf("%s: %w", what, err)
	}
	var copyErr error
	if toAgent {
		if r != nil {
			_, copyErr = io.Copy(keep, r)
		}
		keep.Close()
		if errors.Is(copyErr, syscall.EPIPE) {
			copyErr = nil // the agent gave up; its error says why
		}
	} else {
		src := io.Reader(keep)
		if max > 0 {
			src = io.LimitReader(keep, max+1)
		}
		var n int64
		n, copyErr = io.Copy(w, src)
		if copyErr == nil && max > 0 && n > max {
			copyErr = fmt.Errorf("%w: %s: more than %d bytes", ErrProtocol, what, max)
		}
		keep.Close() // the agent's writes fail now, if it still writes
	}
	err = c.readOK(what)
	if err != nil {
		return err
	}
	if copyErr != nil {
		return fmt.Errorf("%s: %w", what, copyErr)
	}
	return nil
}

// WriteTree writes root (a regular file, a directory tree or a symlink,
// never followed) to w as a tar stream: the first entry, named ".", is root
// itself; the others are named by their path below root ("a", "a/b", ...),
// parents before children. Regular files, directories and symlinks are
// written with mode, mtime, uid and gid; other kinds are skipped. Files are
// streamed, never held in memory.
func WriteTree(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	fi, err := os.Lstat(root)
	if err != nil {
		return err
	}
	if err := writeEntry(tw, root, ".", fi); err != nil {
		return err
	}
	if fi.IsDir() {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == root {
				return nil
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // gone meanwhile
				}
				return err
			}
			return writeEntry(tw, p, filepath.ToSlash(rel), info)
		})
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, p, name string, fi fs.FileInfo) error {
	var link string
	switch {
	case fi.Mode().IsRegular(), fi.IsDir():
	case fi.Mode()&fs.ModeSymlink != 0:
		l, err := os.Readlink(p)
		if err != nil {
			return err
		}
		link = l
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() && name != "." {
		hdr.Name = name + "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.Format = tar.FormatPAX
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	if !fi.Mode().IsRegular() {
		return tw.WriteHeader(hdr)
	}
	// O_NOFOLLOW: a file swapped for a symlink meanwhile is not followed.
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, io.LimitReader(f, hdr.Size))
	if err != nil {
		return err
	}
	if n < hdr.Size {
		// Shrunk meanwhile: pad, the header is already out.
		if _, err := io.CopyN(tw, zeroReader{}, hdr.Size-n); err != nil {
			return err
		}
	}
	return nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// ExtractOptions tune ExtractTree.
type ExtractOptions struct {
	// Chown sets every created entry's owner to UID:GID (lchown).
	Chown    bool
	UID, GID int
	// PermMask is and-ed with every entry's mode (0 = 0o777: no setuid,
	// setgid or sticky bits).
	PermMask fs.FileMode
}

// ExtractTree reads a tar stream written by WriteTree and recreates it at
// target: the "." entry becomes target itself (an existing non-directory
// there is replaced; an existing directory is merged into), the others go
// below it. Every entry is created relative to target's directory fd with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so no entry — neither a name
// with "..", nor a path through a symlink the archive made or a concurrent
// process swapped in — lands outside target. Symlinks are created as links,
// never followed. Only regular files, directories and symlinks are made;
// other entries are an error. Modes and mtimes are kept (directories' after
// their contents). target's parent must exist.
func ExtractTree(r io.Reader, target string, o ExtractOptions) error {
	mask := o.PermMask
	if mask == 0 {
		mask = 0o777
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("%w: empty archive", ErrInvalidRequest)
		}
		return err
	}
	if hdr.Name != "." && hdr.Name != "./" {
		return fmt.Errorf("%w: archive starts with %q, not \".\"", ErrInvalidRequest, hdr.Name)
	}
	parent, base := filepath.Dir(target), filepath.Base(target)
	pfd, err := unix.Open(parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: parent, Err: err}
	}
	defer unix.Close(pfd)
	type dirTime struct {
		fd   int
		name string
		mode fs.FileMode
		mt   time.Time
	}
	var dirs []dirTime
	defer func() {
		for _, d := range dirs {
			if d.fd != pfd {
				unix.Close(d.fd)
			}
		}
	}()
	// The root entry, made in target's parent.
	if err := makeEntry(pfd, base, hdr, tr, o, mask); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeDir {
		if _, err := tr.Next(); err != io.EOF {
			return fmt.Errorf("%w: entries after a non-directory root", ErrInvalidRequest)
		}
		return nil
	}
	rootfd, err := unix.Openat2(pfd, base, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		return &os.PathError{Op: "open", Path: target, Err: err}
	}
	defer unix.Close(rootfd)
	dirs = append(dirs, dirTime{fd: pfd, name: base, mode: fs.FileMode(hdr.Mode), mt: hdr.ModTime})
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		clean := path.Clean(name)
		if name == "" || clean != name || path.IsAbs(clean) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("%w: archive entry %q: not a clean relative path", ErrInvalidRequest, hdr.Name)
		}
		dir, b := path.Split(clean)
		dfd := rootfd
		if dir != "" {
			dfd, err = unix.Openat2(rootfd, strings.TrimSuffix(dir, "/"), &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS})
			if err != nil {
				return &os.PathError{Op: "open", Path: filepath.Join(target, dir), Err: err}
			}
		}
		err = makeEntry(dfd, b, hdr, tr, o, mask)
		if err == nil && hdr.Typeflag == tar.TypeDir {
			// Keep the parent fd for the directory's final mode and mtime.
			nfd, derr := unix.Dup(dfd)
			if derr == nil {
				unix.CloseOnExec(nfd)
				dirs = append(dirs, dirTime{fd: nfd, name: b, mode: fs.FileMode(hdr.Mode), mt: hdr.ModTime})
			}
		}
		if dfd != rootfd {
			unix.Close(dfd)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(target, clean), err)
		}
	}
	// Directories last, deepest first: their modes may forbid writing and
	// creating children changed their mtimes.
	sort.SliceStable(dirs, func(i, j int) bool { return i > j })
	for _, d := range dirs {
		if err := unix.Fchmodat(d.fd, d.name, uint32(d.mode&mask), 0); err != nil {
			return fmt.Errorf("chmod %s: %w", d.name, err)
		}
		ts := []unix.Timespec{unix.NsecToTimespec(d.mt.UnixNano()), unix.NsecToTimespec(d.mt.UnixNano())}
		unix.UtimesNanoAt(d.fd, d.name, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

// makeEntry creates one entry named b in directory dfd.
func makeEntry(dfd int, b string, hdr *tar.Header, tr io.Reader, o ExtractOptions, mask fs.FileMode) error {
	mode := uint32(fs.FileMode(hdr.Mode) & mask)
	var st unix.Stat_t
	exists := unix.Fstatat(dfd, b, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	isDir := exists && st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch hdr.Typeflag {
	case tar.TypeDir:
		if exists && !isDir {
			if err := unix.Unlinkat(dfd, b, 0); err != nil {
				return err
			}
			exists = false
		}
		if !exists {
			if err := unix.Mkdirat(dfd, b, 0o700); err != nil {
				return err
			}
		}
		if o.Chown {
			unix.Fchownat(dfd, b, o.UID, o.GID, unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	case tar.TypeReg, tar.TypeRegA:
		if exists {
			flag := 0
			if isDir {
				flag = unix.AT_REMOVEDIR
			}
			if err := unix.Unlinkat(dfd, b, flag); err != nil {
				return err
			}
		}
		fd, err := unix.Openat(dfd, b, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), b)
		_, err = io.Copy(f, tr)
		if err == nil && o.Chown {
			err = f.Chown(o.UID, o.GID)
		}
		if err == nil {
			err = f.Chmod(fs.FileMode(mode))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			mt := hdr.ModTime
			ts := []unix.Timespec{unix.NsecToTimespec(mt.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
			err = unix.UtimesNanoAt(dfd, b, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
		return err
	case tar.TypeSymlink:
		if exists {
			flag := 0
			if isDir {
				flag = unix.AT_REMOVEDIR
			}
			if err := unix.Unlinkat(dfd, b, flag); err != nil {
				return err
			}
		}
		if err := unix.Symlinkat(hdr.Linkname, dfd, b); err != nil {
			return err
		}
		if o.Chown {
			unix.Fchownat(dfd, b, o.UID, o.GID, unix.AT_SYMLINK_NOFOLLOW)
		}
		mt := hdr.ModTime
		ts := []unix.Timespec{unix.NsecToTimespec(mt.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
		unix.UtimesNanoAt(dfd, b, ts, unix.AT_SYMLINK_NOFOLLOW)
		return nil
	default:
		return fmt.Errorf("%w: archive entry %q of type %q: only files, directories and symlinks", ErrInvalidRequest, hdr.Name, string(hdr.Typeflag))
	}
}
