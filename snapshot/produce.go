package snapshot

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.podman.io/storage/pkg/archive"
	"go.podman.io/storage/pkg/system"
)

// tarUpper writes the overlay diff of the upper folder to w: the tar
// stream archive.TarWithOptions(upper, &archive.TarOptions{Compression:
// Uncompressed, WhiteoutFormat: OverlayWhiteoutFormat, WhiteoutData: lowers,
// ExcludePatterns: excludePatterns(drop)}) makes, byte for byte (a test
// compares them), built the same way from containers/storage's own pieces
// (FileInfoHeader, the overlay whiteout converter: whiteout devices become
// .wh. files, opaque folders get .wh..wh..opq when a lower layer has them;
// security.capability, security.ima and user.* xattrs but not user.overlay.*;
// hardlinks to the first path seen; mtimes in whole seconds; sockets left
// out). What differs is where the bytes go: file data is read straight into
// w's chunks instead of through TarWithOptions' pipe, and an entry that
// cannot be read fails the snapshot instead of being left out with a log
// line. It reads the folder by path: the container must be frozen (or
// stopped) so that nothing swaps a folder for a symlink meanwhile.
func tarUpper(w *chunkWriter, upper string, lowers []string, drop map[string]bool) error {
	conv := archive.GetWhiteoutConverter(archive.OverlayWhiteoutFormat, lowers)
	tw := tar.NewWriter(w)
	seen := map[uint64]string{}
	err := filepath.WalkDir(upper, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if full == upper {
			return nil
		}
		rel := strings.TrimPrefix(full, upper+string(filepath.Separator))
		if drop["/"+filepath.ToSlash(rel)] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(full); err != nil {
				return err
			}
		}
		if fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		hdr, err := archive.FileInfoHeader(rel, fi, link)
		if err != nil {
			return err
		}
		if err := xattrsToHeader(full, hdr); err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st == nil {
			return fmt.Errorf("%s: no stat", full)
		}
		if !fi.IsDir() && st.Nlink > 1 {
			if old, ok := seen[st.Ino]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = old
				hdr.Size = 0
			}
		}
		if hdr.Format == tar.FormatUnknown {
			hdr.ModTime = hdr.ModTime.Truncate(time.Second)
		}
		extra, err := conv.ConvertWrite(hdr, full, fi)
		if err != nil {
			return err
		}
		last := hdr
		if extra != nil {
			if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
				return fmt.Errorf("tar: cannot use extra whiteout with non-empty file %s", hdr.Name)
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			last = extra
		}
		if err := tw.WriteHeader(last); err != nil {
			return err
		}
		if last.Typeflag == tar.TypeReg && last.Size > 0 {
			if err := copyFile(w, tw, full, last.Size); err != nil {
				return err
			}
		}
		if !fi.IsDir() && st.Nlink > 1 {
			if _, ok := seen[st.Ino]; !ok {
				seen[st.Ino] = hdr.Name
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// tarWithOptions returns a producer of the stream tarUpper makes, through
// archive.TarWithOptions: slower (a pipe and a copy more), but it resolves
// every path inside upper (os.Root), so it is safe while the container's
// processes can still change the folder; tarUpper reads it by path.
func tarWithOptions(upper string, lowers []string, drop map[string]bool) func(*chunkWriter) error {
	return func(w *chunkWriter) error {
		rc, err := archive.TarWithOptions(upper, &archive.TarOptions{
			Compression:     archive.Uncompressed,
			WhiteoutFormat:  archive.OverlayWhiteoutFormat,
			WhiteoutData:    lowers,
			ExcludePatterns: excludePatterns(drop),
		})
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(w, rc)
		return err
	}
}

// xattrsToHeader adds the xattrs TarWithOptions keeps to hdr (PAX
// SCHILY.xattr records): security.capability and security.ima, then every
// user.* one but user.overlay.* (a value too big to read is left out).
func xattrsToHeader(full string, hdr *tar.Header) error {
	if hdr.PAXRecords == nil {
		hdr.PAXRecords = map[string]string{}
	}
	for _, name := range []string{"security.capability", "security.ima"} {
		v, err := system.Lgetxattr(full, name)
		if err != nil && !errors.Is(err, system.ENOTSUP) {
			return fmt.Errorf("read %q of %s: %w", name, full, err)
		}
		if v != nil {
			hdr.PAXRecords[archive.PaxSchilyXattr+name] = string(v)
		}
	}
	names, err := system.Llistxattr(full)
	if err != nil && !errors.Is(err, system.ENOTSUP) {
		return fmt.Errorf("list xattrs of %s: %w", full, err)
	}
	for _, name := range names {
		if !strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		v, err := system.Lgetxattr(full, name)
		if errors.Is(err, system.E2BIG) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %q of %s: %w", name, full, err)
		}
		hdr.PAXRecords[archive.PaxSchilyXattr+name] = string(v)
	}
	return nil
}

// copyFile writes the first size bytes of the file at full as the data of
// the current entry of tw, reading them straight into w's chunk (tw passes
// the bytes on to w, which sees they are already in place).
func copyFile(w *chunkWriter, tw *tar.Writer, full string, size int64) error {
	f, err := os.OpenFile(full, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for size > 0 {
		buf, err := w.tail()
		if err != nil {
			return err
		}
		if int64(len(buf)) > size {
			buf = buf[:size]
		}
		n, err := f.Read(buf)
		if n > 0 {
			if _, err := tw.Write(buf[:n]); err != nil {
				return err
			}
			size -= int64(n)
		}
		if errors.Is(err, io.EOF) {
			if size > 0 {
				return fmt.Errorf("%s: %w (it shrank while it was read)", full, io.ErrUnexpectedEOF)
			}
			break
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// chunkWriter cuts the stream written to it into chunks and hands each full
// one to emit (and the last one to flush).
type chunkWriter struct {
	cur  *chunk
	emit func(*chunk) error
}

// tail returns the free end of the current chunk (never empty); bytes read
// into it and then written with Write are not copied.
func (w *chunkWriter) tail() ([]byte, error) {
	if w.cur == nil {
		w.cur = newChunk()
	}
	return w.cur.b[len(w.cur.b):cap(w.cur.b)], nil
}

// Write implements io.Writer.
func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.cur != nil && len(p) > 0 && len(w.cur.b) < cap(w.cur.b) && &p[0] == &w.cur.b[:cap(w.cur.b)][len(w.cur.b)] && len(p) <= cap(w.cur.b)-len(w.cur.b) {
		// Read into tail: already in place.
		w.cur.b = w.cur.b[:len(w.cur.b)+len(p)]
		p = nil
	}
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = newChunk()
		}
		k := copy(w.cur.b[len(w.cur.b):cap(w.cur.b)], p)
		w.cur.b = w.cur.b[:len(w.cur.b)+k]
		p = p[k:]
		if len(w.cur.b) == cap(w.cur.b) {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	if w.cur != nil && len(w.cur.b) == cap(w.cur.b) {
		if err := w.flush(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// flush hands on the current chunk, if it holds anything.
func (w *chunkWriter) flush() error {
	c := w.cur
	w.cur = nil
	if c == nil {
		return nil
	}
	if len(c.b) == 0 {
		c.b = c.b[:cap(c.b)]
		chunkPool.Put(c)
		return nil
	}
	return w.emit(c)
}

// newChunk returns an empty chunk from the pool.
func newChunk() *chunk {
	c := chunkPool.Get().(*chunk)
	c.b = c.b[:0]
	return c
}
