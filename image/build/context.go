package build

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pocketdock/pocketdock/image"
)

// ReadInContext reads file name (relative) of the build context folder
// contextDir through an os.Root: symlinks are followed only while they stay
// inside the context, so a context whose Dockerfile or .dockerignore links to
// a host file outside it (../../etc/shadow, /etc/shadow) never reads that
// file — the error says the path escapes. Errors are os.Root's (wrapping
// os.ErrNotExist for a missing file).
func ReadInContext(contextDir, name string) ([]byte, error) {
	r, err := os.OpenRoot(contextDir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadFile(name)
}

// openSrc opens the data of a file entry for reading. With srcRoot set it
// goes through an os.Root of srcRoot, so a folder of the context swapped
// for a symlink after the sources were resolved (by whoever can write the
// context while root builds) cannot make the build read a host file outside
// it; O_NONBLOCK keeps a file swapped for a fifo from blocking the open, and
// anything but a regular file is refused.
func (e entry) openSrc() (*os.File, error) {
	if e.srcRoot == "" {
		return os.Open(e.src)
	}
	rel, err := filepath.Rel(e.srcRoot, e.src)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("%w: source %s is outside %s", image.ErrInvalidArgument, e.src, e.srcRoot)
	}
	r, err := os.OpenRoot(e.srcRoot)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := r.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: source %s: %v", image.ErrInvalidArgument, e.src, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: source %s is no longer a regular file", image.ErrInvalidArgument, e.src)
	}
	return f, nil
}
