package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/moby/sys/user"
	"go.podman.io/storage/pkg/archive"

	"github.com/pocketdock/pocketdock/image"
)

// whiteoutPrefix marks a deletion in a layer; no file may carry it.
const whiteoutPrefix = ".wh."

// entry is one item a COPY, ADD or WORKDIR puts in its layer.
type entry struct {
	name     string // tar name: container path without the leading "/"
	src      string // host path of the data (regular files, archives), else ""
	typeflag byte   // tar.TypeDir, TypeReg, TypeSymlink
	mode     int64  // permission bits (and setuid/setgid/sticky)
	uid, gid int
	linkname string // symlink target
	size     int64
	mtime    time.Time
	extract  bool // ADD: src is a tar archive, unpacked below name
	// srcRoot, when set, is the folder src lies in (the context or the
	// --from mount): src is opened through an os.Root of it (openSrc).
	srcRoot string
}

// owner is a resolved --chown or USER.
type owner struct{ uid, gid int }

// copySpec is one COPY or ADD, resolved.
type copySpec struct {
	// root is where sources are read: the context folder, or the mount of
	// the --from stage or image.
	root string
	// fromImage: sources come from an image (no .dockerignore, owners kept).
	fromImage bool
	// ignore is the context's .dockerignore matcher (nil = none).
	ignore  *patternmatcher.PatternMatcher
	sources []string
	// dest is the absolute destination as written (a trailing "/" means a folder).
	dest string
	// destRoot is the mount of the image the layer goes on ("" = scratch).
	destRoot string
	chown    *owner
	chmod    *int64
	add      bool
}

// collect resolves the sources of c and returns the layer's entries,
// sorted by name. Errors name a source that matches nothing, leaves the
// context, or a file name a layer cannot hold.
func (c copySpec) collect() ([]entry, error) {
	type match struct{ rel, host string }
	var matches []match
	wildcard := false
	for _, s := range c.sources {
		clean := path.Clean("/" + filepath.ToSlash(s))
		if strings.ContainsAny(clean, "*?[") {
			wildcard = true
			found, err := c.glob(clean)
			if err != nil {
				return nil, err
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("%w: source %q matches no file%s", image.ErrInvalidArgument, s, c.where())
			}
			for _, f := range found {
				host, err := securejoin.SecureJoin(c.root, f)
				if err != nil {
					return nil, err
				}
				matches = append(matches, match{f, host})
			}
			continue
		}
		host, err := securejoin.SecureJoin(c.root, clean)
		if err != nil {
			return nil, err
		}
		if _, err := os.Lstat(host); err != nil || (clean != "/" && c.ignored(clean)) {
			return nil, fmt.Errorf("%w: source %q not found%s", image.ErrInvalidArgument, s, c.where())
		}
		matches = append(matches, match{clean, host})
	}
	dest, destExists, destIsDir, err := c.resolveDest(c.dest)
	if err != nil {
		return nil, err
	}
	intoDir := strings.HasSuffix(c.dest, "/") || len(matches) > 1 || wildcard || destIsDir
	if destExists && !destIsDir {
		// Copying into it, or a folder onto it, would replace the file
		// with a folder (mode 000) in the new layer.
		into := intoDir
		for _, m := range matches {
			if fi, err := os.Stat(m.host); err == nil && fi.IsDir() {
				into = true
			}
		}
		if into {
			return nil, notAFolder(c.dest)
		}
	}
	var out []entry
	madeDest := false
	mkDest := func() {
		if !madeDest && !destExists && dest != "" {
			o := c.owner(nil)
			out = append(out, entry{name: dest, typeflag: tar.TypeDir, mode: 0o755, uid: o.uid, gid: o.gid, mtime: time.Now()})
		}
		madeDest = true
	}
	for _, m := range matches {
		fi, err := os.Stat(m.host) // a source that is a symlink is followed (inside root)
		if err != nil {
			return nil, fmt.Errorf("%w: source %q: %v", image.ErrInvalidArgument, m.rel, err)
		}
		switch {
		case fi.IsDir():
			mkDest()
			err := c.walk(m.host, m.rel, dest, &out)
			if err != nil {
				return nil, err
			}
		case fi.Mode().IsRegular():
			if c.add && isArchive(m.host) {
				if destExists && !destIsDir {
					return nil, notAFolder(c.dest) // the archive unpacks below it
				}
				mkDest()
				out = append(out, entry{name: dest, src: m.host, srcRoot: c.root, extract: true, size: fi.Size()})
				continue
			}
			name := dest
			if intoDir {
				mkDest()
				name = path.Join(dest, path.Base(m.rel))
			}
			e, err := c.fileEntry(m.host, name, fi)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		default:
			return nil, fmt.Errorf("%w: source %q is not a file, folder or symlink", image.ErrInvalidArgument, m.rel)
		}
	}
	// Folders on the way that the image lacks are made 0755 (owned like
	// the copied files), not left to the layer unpacker's defaults.
	have := map[string]bool{}
	for _, e := range out {
		have[e.name] = true
	}
	var parents []entry
	for _, e := range out {
		for p := path.Dir(e.name); p != "." && p != "/" && !have[p]; p = path.Dir(p) {
			if _, exists, isDir, err := resolveIn(c.destRoot, p); err != nil {
				return nil, err
			} else if exists && !isDir {
				return nil, notAFolder("/" + p)
			} else if exists {
				break
			}
			have[p] = true
			o := c.owner(nil)
			parents = append(parents, entry{name: p, typeflag: tar.TypeDir, mode: 0o755, uid: o.uid, gid: o.gid, mtime: time.Now()})
		}
	}
	out = append(out, parents...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (c copySpec) where() string {
	if c.fromImage {
		return " in the --from image"
	}
	return " in the build context (or excluded by .dockerignore)"
}

// ignored reports whether context path p ("/a/b") is excluded by .dockerignore.
func (c copySpec) ignored(p string) bool {
	if c.fromImage || c.ignore == nil {
		return false
	}
	ok, err := c.ignore.MatchesOrParentMatches(strings.TrimPrefix(p, "/"))
	return err == nil && ok
}

// glob expands a source pattern ("/src/*.txt") below root, leaving out
// ignored paths; results are root-relative ("/src/a.txt"), sorted.
func (c copySpec) glob(pattern string) ([]string, error) {
	dir, file := path.Split(pattern)
	var dirs []string
	if strings.ContainsAny(dir, "*?[") {
		parents, err := c.glob(path.Clean(dir))
		if err != nil {
			return nil, err
		}
		dirs = parents
	} else {
		dirs = []string{path.Clean(dir)}
	}
	var out []string
	for _, d := range dirs {
		host, err := securejoin.SecureJoin(c.root, d)
		if err != nil {
			return nil, err
		}
		ents, err := os.ReadDir(host)
		if err != nil {
			continue
		}
		for _, e := range ents {
			ok, err := path.Match(file, e.Name())
			if err != nil {
				return nil, fmt.Errorf("%w: source pattern %q: %v", image.ErrInvalidArgument, pattern, err)
			}
			p := path.Join(d, e.Name())
			if ok && !c.ignored(p) {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// walk adds the contents of folder host (root-relative rel) below dest.
func (c copySpec) walk(host, rel, dest string, out *[]entry) error {
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == host {
			return nil
		}
		sub := filepath.ToSlash(strings.TrimPrefix(p, host+string(filepath.Separator)))
		if c.ignored(path.Join(rel, sub)) {
			if d.IsDir() && !c.ignore.Exclusions() {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				return nil
			}
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e, err := c.fileEntry(p, path.Join(dest, sub), fi)
		if err != nil {
			return err
		}
		if e.typeflag != 0 {
			*out = append(*out, e)
		}
		return nil
	})
}

// fileEntry makes the entry for host file p (info fi) at name. Sockets,
// devices and fifos are left out (typeflag 0).
func (c copySpec) fileEntry(p, name string, fi fs.FileInfo) (entry, error) {
	if strings.HasPrefix(path.Base(name), whiteoutPrefix) {
		return entry{}, fmt.Errorf("%w: file %q: a name starting with %q cannot be stored in an image layer (it would mean a deletion)", image.ErrInvalidArgument, "/"+name, whiteoutPrefix)
	}
	o := c.owner(fi)
	e := entry{name: name, uid: o.uid, gid: o.gid, mtime: fi.ModTime(), mode: int64(fi.Mode().Perm())}
	if fi.Mode()&fs.ModeSetuid != 0 {
		e.mode |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		e.mode |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		e.mode |= 0o1000
	}
	switch {
	case fi.Mode().IsRegular():
		e.typeflag, e.src, e.size, e.srcRoot = tar.TypeReg, p, fi.Size(), c.root
		e.mode = c.mode(e.mode)
	case fi.IsDir():
		e.typeflag = tar.TypeDir
		e.mode = c.mode(e.mode)
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(p)
		if err != nil {
			return entry{}, err
		}
		e.typeflag, e.linkname, e.mode = tar.TypeSymlink, t, 0o777
	}
	return e, nil
}

// owner is the owner of a copied file: --chown when given; else the
// file's own for --from copies and root for context files (as docker does).
func (c copySpec) owner(fi fs.FileInfo) owner {
	if c.chown != nil {
		return *c.chown
	}
	if c.fromImage && fi != nil {
		if uid, gid, ok := statOwner(fi); ok {
			return owner{uid, gid}
		}
	}
	return owner{}
}

func (c copySpec) mode(m int64) int64 {
	if c.chmod != nil {
		return *c.chmod
	}
	return m
}

// resolveDest resolves the absolute container path dest in the image the
// layer goes on (following the image's symlinks, never leaving it) and
// returns the tar name and whether it exists, and as a folder.
func (c copySpec) resolveDest(dest string) (name string, exists, isDir bool, err error) {
	return resolveIn(c.destRoot, dest)
}

// resolveIn resolves container path p in the image mounted at root (""
// = scratch: nothing exists).
func resolveIn(root, p string) (name string, exists, isDir bool, err error) {
	clean := path.Clean("/" + p)
	if root == "" {
		return strings.TrimPrefix(clean, "/"), false, false, nil
	}
	host, err := securejoin.SecureJoin(root, clean)
	if err != nil {
		return "", false, false, err
	}
	name = strings.TrimPrefix(filepath.ToSlash(strings.TrimPrefix(host, root)), "/")
	fi, err := os.Stat(host)
	if err != nil {
		return name, false, false, nil
	}
	return name, true, fi.IsDir(), nil
}

// isArchive reports whether file p is a tar archive, plain or compressed
// (gzip, bzip2, xz, zstd), which ADD unpacks.
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	rc, err := archive.DecompressStream(bufio.NewReader(f))
	if err != nil {
		return false
	}
	defer rc.Close()
	_, err = tar.NewReader(rc).Next()
	return err == nil
}

// digestEntries hashes everything the entries put in the layer: names,
// types, modes, owners, link targets and file contents (archives whole).
func digestEntries(es []entry) (string, error) {
	h := sha256.New()
	for _, e := range es {
		fmt.Fprintf(h, "%q %c %o %d %d %q %d %t\n", e.name, e.typeflag, e.mode, e.uid, e.gid, e.linkname, e.size, e.extract)
		if e.src != "" {
			if err := hashEntry(h, e); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashEntry(h hash.Hash, e entry) error {
	f, err := e.openSrc()
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}

// writeTar writes the entries as an uncompressed layer tar to w; archives
// (extract) are unpacked below their name.
func writeTar(w io.Writer, es []entry) error {
	tw := tar.NewWriter(w)
	for _, e := range es {
		if e.extract {
			if err := unpackInto(tw, e); err != nil {
				return err
			}
			continue
		}
		hdr := &tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.linkname, ModTime: e.mtime, Format: tar.FormatPAX}
		if e.typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if e.typeflag == tar.TypeReg {
			f, err := e.openSrc()
			if err != nil {
				return err
			}
			fi, err := f.Stat()
			if err != nil {
				f.Close()
				return err
			}
			hdr.Size = fi.Size()
			if err := tw.WriteHeader(hdr); err != nil {
				f.Close()
				return err
			}
			_, err = io.CopyN(tw, f, hdr.Size)
			f.Close()
			if err != nil {
				return fmt.Errorf("copy %s: %w", e.src, err)
			}
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	return tw.Close()
}

// unpackInto copies the members of archive e.src below e.name, keeping
// their modes and owners; names are cleaned so none leaves e.name.
func unpackInto(tw *tar.Writer, e entry) error {
	f, err := e.openSrc()
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := archive.DecompressStream(bufio.NewReader(f))
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ADD %s: %w", e.src, err)
		}
		rel := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if rel == "" {
			continue
		}
		if strings.HasPrefix(path.Base(rel), whiteoutPrefix) {
			return fmt.Errorf("%w: ADD %s: member %q: a name starting with %q cannot be stored in an image layer", image.ErrInvalidArgument, filepath.Base(e.src), hdr.Name, whiteoutPrefix)
		}
		hdr.Name = path.Join(e.name, rel)
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = path.Join(e.name, strings.TrimPrefix(path.Clean("/"+hdr.Linkname), "/"))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// readIgnore reads the context's .dockerignore (none: nil). A symlink
// there is followed only inside the context (ReadInContext).
func readIgnore(contextDir string) (*patternmatcher.PatternMatcher, error) {
	data, err := ReadInContext(contextDir, ".dockerignore")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: .dockerignore: %v (want a file inside the context; a symlink may not lead out of it)", image.ErrInvalidArgument, err)
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: .dockerignore: %v", image.ErrInvalidArgument, err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("%w: .dockerignore: %v", image.ErrInvalidArgument, err)
	}
	return pm, nil
}

// lookupOwner resolves a user spec ("name", "uid", "name:group",
// "uid:gid") against the image mounted at root ("" = none: numbers only).
// A user without a group takes the user's primary group (a numeric one
// its own number, as docker does).
func lookupOwner(root, spec string) (owner, error) {
	if spec == "" {
		return owner{}, nil
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	uid, uerr := strconv.Atoi(u)
	gid, gerr := strconv.Atoi(g)
	if uerr == nil && (hasGroup && gerr == nil || !hasGroup) {
		if !hasGroup {
			gid = uid
		}
		if uid < 0 || gid < 0 || uid > maxID || gid > maxID {
			return owner{}, fmt.Errorf("%w: user %q: ID out of range (want 0-%d)", image.ErrInvalidArgument, spec, maxID)
		}
		return owner{uid, gid}, nil
	}
	var passwd, group string
	if root != "" {
		passwd, _ = securejoin.SecureJoin(root, "/etc/passwd")
		group, _ = securejoin.SecureJoin(root, "/etc/group")
	}
	eu, err := user.GetExecUserPath(spec, &user.ExecUser{}, passwd, group)
	if err != nil {
		return owner{}, fmt.Errorf("%w: user %q: %v (not in the image's /etc/passwd or /etc/group)", image.ErrInvalidArgument, spec, err)
	}
	return owner{eu.Uid, eu.Gid}, nil
}

// parseMode parses a --chmod octal mode.
func parseMode(s string) (int64, error) {
	m, err := strconv.ParseInt(s, 8, 32)
	if err != nil || m < 0 || m > 0o7777 {
		return 0, fmt.Errorf("%w: mode %q: want octal 0..7777", image.ErrInvalidArgument, s)
	}
	return m, nil
}
