package build

import (
	"archive/tar"
	"context"
	_ "crypto/sha256" // go-digest's sha256
	_ "crypto/sha512" // go-digest's sha384 and sha512
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	digest "github.com/opencontainers/go-digest"

	"github.com/pocketdock/pocketdock/image"
)

// remoteMode is the mode of a file ADD fetches from a URL without --chmod
// (docker's: 0600).
const remoteMode = 0o600

// ChecksumError is an ADD of a URL whose content does not match --checksum.
// It wraps image.ErrInvalidArgument.
type ChecksumError struct {
	// URL is the source as written (after ARG expansion).
	URL string
	// Want is the --checksum digest ("sha512:…"); Got is the content's
	// digest in the same algorithm.
	Want, Got string
}

// Error names the URL and both digests.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("ADD %s: checksum mismatch: --checksum=%s, the downloaded content is %s", e.URL, e.Want, e.Got)
}

// Unwrap makes the error match image.ErrInvalidArgument.
func (e *ChecksumError) Unwrap() error { return image.ErrInvalidArgument }

// isHTTP reports whether an ADD source is an http or https URL.
func isHTTP(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// parseChecksum checks an ADD --checksum value: "<algorithm>:<hex>" with
// algorithm sha256, sha384 or sha512 (as docker takes it).
func parseChecksum(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err == nil && !d.Algorithm().Available() {
		err = fmt.Errorf("algorithm not available")
	}
	if err != nil {
		return "", fmt.Errorf("%w: --checksum=%s: want sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex> (%v)", image.ErrInvalidArgument, s, err)
	}
	return d, nil
}

// checkRemoteAdd checks an ADD whose sources are written as URLs at parse
// time (ARG-expanded sources are checked again when the step runs).
func checkRemoteAdd(c *instructions.AddCommand, bad func(string, ...any) error) error {
	urls := 0
	for _, s := range c.SourcePaths {
		switch {
		case isHTTP(s):
			urls++
		case isRemote(s):
			return bad("remote source %q is not supported: only http:// and https:// URLs (no git or ssh)", s)
		}
	}
	if urls > 0 && urls < len(c.SourcePaths) {
		return bad("an ADD with a URL takes URLs only: put the local files in another ADD or COPY")
	}
	if c.Checksum != "" && !strings.Contains(c.Checksum, "$") {
		if urls == 0 && !strings.Contains(strings.Join(c.SourcePaths, " "), "$") {
			return bad("--checksum is only for http(s) URL sources")
		}
		if len(c.SourcePaths) > 1 {
			return bad("--checksum takes one URL source, got %d", len(c.SourcePaths))
		}
		if _, err := parseChecksum(c.Checksum); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// fetched is one downloaded URL: its temporary file, digest and name.
type fetched struct {
	url    string
	file   string        // temporary host file
	size   int64         // bytes
	sha256 digest.Digest // of the content
	name   string        // file name when the destination is a folder
	mtime  time.Time     // Last-Modified, else now
}

// httpClient fetches ADD URLs: the default transport (system CA roots,
// proxy from the environment).
var httpClient = &http.Client{Transport: http.DefaultTransport}

// fetchURL downloads u into a new file in dir and checks it against want
// ("" = no check). It returns what it fetched; on an error the file is gone.
func fetchURL(ctx context.Context, u, dir string, want digest.Digest, progress io.Writer) (*fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: ADD %s: %v", image.ErrInvalidArgument, u, err)
	}
	req.Header.Set("User-Agent", "pocketdock-build")
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("ADD %s: HTTP %s", u, resp.Status)
	}
	f, err := os.CreateTemp(dir, "add-*")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		f.Close()
		if !ok {
			os.Remove(f.Name())
		}
	}()
	sha := digest.SHA256.Digester()
	ws := []io.Writer{f, sha.Hash()}
	var check digest.Digester
	if want != "" {
		if want.Algorithm() == digest.SHA256 {
			check = sha
		} else {
			check = want.Algorithm().Digester()
			ws = append(ws, check.Hash())
		}
	}
	n, err := io.Copy(io.MultiWriter(ws...), resp.Body)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: download: %w", u, err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if check != nil && check.Digest() != want {
		return nil, &ChecksumError{URL: u, Want: want.String(), Got: check.Digest().String()}
	}
	out := &fetched{url: u, file: f.Name(), size: n, sha256: sha.Digest(), name: urlFileName(u, resp), mtime: time.Now()}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		out.mtime = lm
	}
	fmt.Fprintf(progress, "--> fetched %s (%d bytes, %s) in %s\n", u, n, out.sha256, time.Since(start).Round(time.Millisecond))
	ok = true
	return out, nil
}

// urlFileName is the name a URL's file gets in a destination folder: the
// Content-Disposition filename when the server sends one, else the last
// element of the URL path ("" when there is none).
func urlFileName(u string, resp *http.Response) string {
	if resp != nil {
		if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
			if n := path.Base(filepath.ToSlash(params["filename"])); n != "" && n != "." && n != "/" && n != ".." {
				return n
			}
		}
	}
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	n := path.Base(pu.Path)
	if n == "." || n == "/" || n == ".." {
		return ""
	}
	return n
}

// remoteEntries makes the layer entries of the fetched files: each at dest
// (a folder when dest ends in "/", exists as one, or there are several
// URLs; then under its file name), with mode (0600 unless --chmod) and
// owner o, plus the folders on the way the image lacks (0755).
func remoteEntries(files []*fetched, destRoot, dest string, o owner, mode int64) ([]entry, error) {
	name, exists, isDir, err := resolveIn(destRoot, dest)
	if err != nil {
		return nil, err
	}
	intoDir := strings.HasSuffix(dest, "/") || isDir || len(files) > 1
	if exists && !isDir && intoDir {
		return nil, notAFolder(dest)
	}
	var out []entry
	have := map[string]bool{}
	for _, f := range files {
		n := name
		if intoDir {
			if f.name == "" {
				return nil, fmt.Errorf("%w: ADD %s: the URL has no file name to put in folder %s: name the destination file", image.ErrInvalidArgument, f.url, dest)
			}
			n = path.Join(name, f.name)
		}
		if n == "" {
			return nil, fmt.Errorf("%w: ADD %s: destination %s is the root folder", image.ErrInvalidArgument, f.url, dest)
		}
		if strings.HasPrefix(path.Base(n), whiteoutPrefix) {
			return nil, fmt.Errorf("%w: file %q: a name starting with %q cannot be stored in an image layer", image.ErrInvalidArgument, "/"+n, whiteoutPrefix)
		}
		out = append(out, entry{name: n, src: f.file, typeflag: tar.TypeReg, mode: mode, uid: o.uid, gid: o.gid, size: f.size, mtime: f.mtime})
		have[n] = true
	}
	var parents []entry
	for _, e := range out {
		for p := path.Dir(e.name); p != "." && p != "/" && !have[p]; p = path.Dir(p) {
			if _, exists, isDir, err := resolveIn(destRoot, p); err != nil {
				return nil, err
			} else if exists && !isDir {
				return nil, notAFolder("/" + p)
			} else if exists {
				break
			}
			have[p] = true
			parents = append(parents, entry{name: p, typeflag: tar.TypeDir, mode: 0o755, uid: o.uid, gid: o.gid, mtime: time.Now()})
		}
	}
	out = append(out, parents...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// addRemote runs an ADD of http(s) URLs: the files are fetched on the host
// with Go's net/http (the host's CA roots and proxy settings), checked
// against --checksum, and put in one layer. The cache key holds the URLs,
// the destination, owner and mode, and the content: with --checksum that
// digest (so a cached step needs no download), else the downloaded
// content's sha256 (as docker keys a URL by its content).
func (b *builder) addRemote(ctx context.Context, st *state, sp step, c *instructions.AddCommand, dest string) error {
	fail := func(err error) error {
		return fmt.Errorf("%s line %d: ADD: %w", b.o.File, sp.line, err)
	}
	bad := func(reason string, args ...any) error {
		return &InstructionError{File: b.o.File, Line: sp.line, Instruction: "ADD", Reason: fmt.Sprintf(reason, args...)}
	}
	if err := checkRemoteAdd(c, bad); err != nil {
		return err
	}
	var want digest.Digest
	if c.Checksum != "" {
		if len(c.SourcePaths) != 1 {
			return bad("--checksum takes one URL source, got %d", len(c.SourcePaths))
		}
		d, err := parseChecksum(c.Checksum)
		if err != nil {
			return bad("%v", err)
		}
		want = d
	}
	mode := int64(remoteMode)
	if c.Chmod != "" {
		m, err := parseMode(c.Chmod)
		if err != nil {
			return fail(err)
		}
		mode = m
	}
	return b.withMount(st.image, func(destRoot string) error {
		var o owner
		if c.Chown != "" {
			var err error
			if o, err = lookupOwner(destRoot, c.Chown); err != nil {
				return fail(err)
			}
		}
		keyOf := func(content string) string {
			return cacheInput{Parent: st.image, Config: st.cfg, History: st.historyText(),
				Step:    append([]string{"ADD", "url", dest, fmt.Sprintf("%d:%d %o", o.uid, o.gid, mode)}, c.SourcePaths...),
				Content: content}.key()
		}
		if want != "" {
			if hit, err := b.cached(st, keyOf("checksum "+want.String())); err != nil || hit {
				return err
			}
		}
		// In the store's per-process tmp, which the next process removes
		// when this one is killed mid-download (the host's /tmp kept it).
		dir, err := os.MkdirTemp(b.o.Store.TempDir(), "add-url-")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(dir)
		var files []*fetched
		for _, u := range c.SourcePaths {
			f, err := fetchURL(ctx, u, dir, want, b.out)
			if err != nil {
				return fail(err)
			}
			files = append(files, f)
		}
		es, err := remoteEntries(files, destRoot, dest, o, mode)
		if err != nil {
			return fail(err)
		}
		key := ""
		if want != "" {
			key = keyOf("checksum " + want.String())
		} else {
			var sums []string
			for _, f := range files {
				sums = append(sums, f.url+" "+f.sha256.String())
			}
			key = keyOf("content " + strings.Join(sums, " "))
			if hit, err := b.cached(st, key); err != nil || hit {
				return err
			}
		}
		if err := b.layerStep(ctx, st, es, sp.original, key); err != nil {
			return fail(err)
		}
		return nil
	})
}

// remoteAdd runs ADD c when its (ARG-expanded) sources are URLs and
// reports whether it did; a local ADD with --checksum is refused.
func (b *builder) remoteAdd(ctx context.Context, st *state, sp step, c *instructions.AddCommand) (bool, error) {
	urls := 0
	for _, s := range c.SourcePaths {
		if isHTTP(s) {
			urls++
		}
	}
	if urls == 0 {
		if c.Checksum != "" {
			return false, &InstructionError{File: b.o.File, Line: sp.line, Instruction: "ADD", Reason: "--checksum is only for http(s) URL sources"}
		}
		return false, nil
	}
	dest := st.destPath(c.DestPath)
	return true, b.addRemote(ctx, st, sp, c, dest)
}
