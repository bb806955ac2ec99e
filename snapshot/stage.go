package snapshot

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/vbatts/tar-split/archive/tar"
	tsstorage "github.com/vbatts/tar-split/tar/storage"
	"go.podman.io/storage"
	drivers "go.podman.io/storage/drivers"
	"go.podman.io/storage/pkg/archive"
	"go.podman.io/storage/pkg/stringid"
	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock/image"
)

// Writing the diff as a layer.
//
// containers/storage's PutLayer reads the layer tarball in one chain: the
// sha256 of the stream, tar-split's parse with a crc64 of every file
// (asm.NewInputTarStream, which copies the stream on through a pipe), a
// second parse for the owners (tarlog), and the untar in a re-executed child
// fed by another pipe, each step waiting on the next. For a snapshot most of
// that time is the two checksums, and they need not wait for each other.
// stagedLayer computes what PutLayer computes from exactly the same tar
// stream, side by side: the stream is made once (tarUpper, produce.go,
// reads file data straight into it), in chunks that go to
//
//   - the sha256 (the layer's diff ID) and byte count;
//   - tar-split (splitTar: tar-split's own parser and entries, as asm makes
//     them — the metadata that lets Diff rebuild this very tarball — with a
//     faster crc64, crc.go) and the owners (uids and gids, whiteouts not
//     counted, as PutLayer logs them);
//   - archive.Unpack with the options the storage driver gives, into the
//     driver's staging folder;
//
// and the staging folder becomes the layer through the driver's staged-layer
// API (PrepareStagedLayer / ApplyStagedLayer, the one containers/image uses
// for partial pulls), which takes the digest, size, owners and tar-split
// from us. The result is the layer PutLayer makes from the stream (a test
// compares them). Drivers that cannot stage plain folders get PutLayer.
//
// The untar runs in this process, not in a re-executed chrooted child: the
// stream comes from a walk of the container's upper folder (tarUpper while
// the container is frozen, TarWithOptions otherwise: no entry below a
// symlink, hardlinks only to earlier entries), the staging folder is new and
// private, and Unpack resolves every parent inside it (SecureJoin) and
// replaces, never follows, a final symlink.

// chunkSize is the size of the pieces the tar stream is cut in.
const chunkSize = 256 << 10

// errNoStaging says the storage driver cannot stage a layer from a folder
// (composefs); the caller falls back to PutLayer.
var errNoStaging = errors.New("the storage driver does not stage plain layer folders")

// stagingMarker is the name of the empty file that marks a staging folder
// of containerID's snapshot, so a folder left by a killed snapshot is found.
func stagingMarker(containerID string) string {
	return "pocketdock-snapshot-" + containerID
}

// writeDiff writes the tar stream that produce writes as a new layer on
// parent, named name: staged (stagedLayer) when the driver can, else with
// PutLayer.
func writeDiff(st storage.Store, containerID, parent, name string, produce func(*chunkWriter) error) (*storage.Layer, error) {
	layer, err := stagedLayer(st, containerID, parent, name, produce)
	if !errors.Is(err, errNoStaging) && !errors.Is(err, storage.ErrNotSupported) {
		return layer, err
	}
	slog.Debug("snapshot: the storage driver cannot stage the layer; writing it with PutLayer", "reason", err)
	pr, pw := io.Pipe()
	go func() {
		w := &chunkWriter{emit: func(c *chunk) error {
			_, err := pw.Write(c.b)
			c.b = c.b[:cap(c.b)]
			chunkPool.Put(c)
			return err
		}}
		err := produce(w)
		if err == nil {
			err = w.flush()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	layer, _, err = st.PutLayer("", parent, []string{name}, "", false, nil, pr)
	if err != nil {
		return nil, fmt.Errorf("write the new layer: %w", err)
	}
	return layer, nil
}

// stagedLayer writes the tar stream that produce writes as a new layer on
// parent, named name, through the driver's staging folder (see above).
// errNoStaging or storage.ErrNotSupported when the driver cannot; nothing is
// left behind on any error.
func stagedLayer(st storage.Store, containerID, parent, name string, produce func(*chunkWriter) error) (*storage.Layer, error) {
	d := &tarDiffer{produce: produce, marker: stagingMarker(containerID)}
	t0 := time.Now()
	out, err := st.PrepareStagedLayer(nil, d)
	if err != nil {
		// Target is "" when no staging folder was made (never remove "." then).
		if out != nil && out.Target != "" {
			if cerr := st.CleanupStagedLayer(out); cerr != nil {
				slog.Warn("snapshot: remove the staging folder", "folder", out.Target, "error", cerr)
			}
		}
		return nil, err
	}
	// PutLayer's layer folder gets the parent's owner (the driver gives
	// it the parent's mode when it takes the staging folder).
	if err := ownLikeParent(st, parent, out.Target); err != nil {
		if cerr := st.CleanupStagedLayer(out); cerr != nil {
			slog.Warn("snapshot: remove the staging folder", "folder", out.Target, "error", cerr)
		}
		return nil, err
	}
	t1 := time.Now()
	// containers/image reuses a present layer under its chain ID
	// (commitLayer): giving the layer that name now saves renaming it, one
	// write of the layer list less — unless a layer has that ID or name.
	names := []string{name}
	if chain := image.ChainID(parent, out.UncompressedDigest); !layerExists(st, chain) {
		names = append(names, chain)
	}
	apply := func(names []string) (*storage.Layer, error) {
		return st.ApplyStagedLayer(storage.ApplyStagedLayerOptions{
			ID:          stringid.GenerateRandomID(),
			ParentLayer: parent,
			Names:       names,
			DiffOutput:  out,
			DiffOptions: &drivers.ApplyDiffWithDifferOpts{},
		})
	}
	// ApplyStagedLayer closes the tar-split file even when it fails; a
	// duplicate of it allows a second try without the chain ID, should
	// another layer have taken that name meanwhile (it checks names before
	// it touches the staging folder).
	spare, err := dupFile(out.TarSplit)
	if err != nil {
		if cerr := st.CleanupStagedLayer(out); cerr != nil {
			slog.Warn("snapshot: remove the staging folder", "folder", out.Target, "error", cerr)
		}
		return nil, err
	}
	layer, err := apply(names)
	if errors.Is(err, storage.ErrDuplicateName) && len(names) > 1 {
		out.TarSplit, spare = spare, nil
		layer, err = apply(names[:1])
	}
	if spare != nil {
		spare.Close()
	}
	if err != nil {
		if cerr := st.CleanupStagedLayer(out); cerr != nil {
			slog.Warn("snapshot: remove the staging folder", "folder", out.Target, "error", cerr)
		}
		return nil, fmt.Errorf("write the new layer: %w", err)
	}
	// The driver moved the staging folder's "dir" into the layer; what is
	// left is the folder with our marker (the driver's lock file is gone).
	staging := filepath.Dir(out.Target)
	os.Remove(filepath.Join(staging, d.marker))
	if err := os.Remove(staging); err != nil && !os.IsNotExist(err) {
		slog.Warn("snapshot: remove the staging folder", "folder", staging, "error", err)
	}
	slog.Debug("snapshot: layer staged", "layer", layer.ID, "bytes", out.Size, "staging", t1.Sub(t0), "apply", time.Since(t1))
	return layer, nil
}

// ownLikeParent gives folder the owner of parent's layer folder (as the
// overlay driver gives a new layer's folder); nothing without a parent.
func ownLikeParent(st storage.Store, parent, folder string) error {
	if parent == "" {
		return nil
	}
	drv, err := st.GraphDriver()
	if err != nil {
		return err
	}
	md, err := drv.Metadata(parent)
	if err != nil {
		return fmt.Errorf("layer %s: %w", parent, err)
	}
	var pst unix.Stat_t
	if err := unix.Stat(md["UpperDir"], &pst); err != nil {
		return fmt.Errorf("layer %s: %w", parent, err)
	}
	return os.Lchown(folder, int(pst.Uid), int(pst.Gid))
}

// layerExists reports whether a layer has ID or name id.
func layerExists(st storage.Store, id string) bool {
	_, err := st.Layer(id)
	return !errors.Is(err, storage.ErrLayerUnknown)
}

// dupFile returns a second open file on f's open file description.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("dup %s: %w", f.Name(), err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// removeStaging removes the staging folders that killed snapshots of
// containerID left in the store's driver folder.
func removeStaging(st storage.Store, containerID string) {
	drv, err := st.GraphDriver()
	if err != nil {
		return
	}
	marks, _ := filepath.Glob(filepath.Join(st.GraphRoot(), drv.String(), "staging", "*", stagingMarker(containerID)))
	for _, m := range marks {
		if err := os.RemoveAll(filepath.Dir(m)); err != nil {
			slog.Warn("snapshot: remove the staging folder of a killed snapshot", "folder", filepath.Dir(m), "error", err)
		}
	}
}

// tarDiffer is a drivers.Differ that unpacks the tar stream produce writes
// into the driver's staging folder and returns what PutLayer would record
// for that stream.
type tarDiffer struct {
	produce func(*chunkWriter) error
	marker  string
}

// Close implements drivers.Differ.
func (d *tarDiffer) Close() error { return nil }

// ApplyDiff implements drivers.Differ: dest is the staging folder that
// becomes the layer's diff folder, options the driver's untar options.
func (d *tarDiffer) ApplyDiff(dest string, options *archive.TarOptions, differOpts *drivers.DifferOptions) (drivers.DriverWithDifferOutput, error) {
	var out drivers.DriverWithDifferOutput
	if differOpts == nil || differOpts.Format != drivers.DifferOutputFormatDir || differOpts.StagingDirectory == "" {
		return out, errNoStaging
	}
	if err := os.WriteFile(filepath.Join(differOpts.StagingDirectory, d.marker), nil, 0o600); err != nil {
		return out, err
	}
	// The tar-split metadata, uncompressed (ApplyStagedLayer compresses it
	// into the layer store). Unlinked at once: only the open file is needed.
	ts, err := os.CreateTemp(differOpts.StagingDirectory, "tar-split-")
	if err != nil {
		return out, err
	}
	os.Remove(ts.Name())
	res, err := fanOut(d.produce, ts, dest, options)
	if err != nil {
		ts.Close()
		return out, err
	}
	out.TarSplit = ts
	out.UncompressedDigest = res.digest
	out.Size = res.size
	out.UIDs = res.uids
	out.GIDs = res.gids
	return out, nil
}

type fanResult struct {
	digest     digest.Digest
	size       int64
	uids, gids []uint32
}

// chunk is a piece of the tar stream shared by the consumers; the last
// one to release it returns it to the pool.
type chunk struct {
	b    []byte
	refs atomic.Int32
}

var chunkPool = sync.Pool{New: func() any { return &chunk{b: make([]byte, chunkSize)} }}

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		c.b = c.b[:cap(c.b)]
		chunkPool.Put(c)
	}
}

// chanReader reads the chunks sent on ch as one stream; it ends (io.EOF)
// when ch is closed, or with ctx's cause when ctx ends first.
type chanReader struct {
	ctx context.Context
	ch  <-chan *chunk
	cur *chunk
	off int
}

func (r *chanReader) Read(p []byte) (int, error) {
	for r.cur == nil || r.off == len(r.cur.b) {
		if r.cur != nil {
			r.cur.release()
			r.cur = nil
		}
		select {
		case c, ok := <-r.ch:
			if !ok {
				return 0, io.EOF
			}
			r.cur, r.off = c, 0
		case <-r.ctx.Done():
			return 0, context.Cause(r.ctx)
		}
	}
	n := copy(p, r.cur.b[r.off:])
	r.off += n
	return n, nil
}

// fanOut runs produce and, side by side with it, hashes the tar stream it
// writes, writes its tar-split metadata to ts, unpacks it into dest with
// options and logs its owners (as containers/storage's applyDiff does:
// whiteout entries do not count).
func fanOut(produce func(*chunkWriter) error, ts *os.File, dest string, options *archive.TarOptions) (fanResult, error) {
	var res fanResult
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		cancel(err)
	}

	// The untar.
	toUnpack := make(chan *chunk, 8)
	wg.Go(func() {
		r := &chanReader{ctx: ctx, ch: toUnpack}
		err := archive.Unpack(r, dest, options)
		if err == nil {
			// Unpack stops at the end-of-archive blocks.
			_, err = io.Copy(io.Discard, r)
		}
		if err != nil {
			fail(fmt.Errorf("unpack the layer: %w", err))
		}
	})

	// tar-split and the owners.
	toSplit := make(chan *chunk, 8)
	uids, gids := map[uint32]struct{}{}, map[uint32]struct{}{}
	wg.Go(func() {
		tsw := bufio.NewWriterSize(ts, 64<<10)
		err := splitTar(&chanReader{ctx: ctx, ch: toSplit}, tsstorage.NewJSONPacker(tsw), func(h *tar.Header) {
			if !strings.HasPrefix(filepath.Base(h.Name), archive.WhiteoutPrefix) {
				uids[uint32(h.Uid)] = struct{}{}
				gids[uint32(h.Gid)] = struct{}{}
			}
		})
		if err == nil {
			err = tsw.Flush()
		}
		if err != nil {
			fail(fmt.Errorf("tar-split of the layer: %w", err))
		}
	})

	// The diff ID and size.
	toHash := make(chan *chunk, 8)
	h := sha256.New()
	wg.Go(func() {
		for c := range toHash {
			h.Write(c.b)
			res.size += int64(len(c.b))
			c.release()
		}
	})

	// Produce and hand out.
	send := func(ch chan<- *chunk, c *chunk) {
		select {
		case ch <- c:
		case <-ctx.Done():
			c.release()
		}
	}
	w := &chunkWriter{emit: func(c *chunk) error {
		c.refs.Store(3)
		send(toHash, c)
		send(toSplit, c)
		send(toUnpack, c)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return nil
	}}
	err := produce(w)
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		fail(fmt.Errorf("the layer diff: %w", err))
	}
	close(toHash)
	close(toSplit)
	close(toUnpack)
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	res.digest = digest.NewDigest(digest.SHA256, h)
	for u := range uids {
		res.uids = append(res.uids, u)
	}
	slices.Sort(res.uids)
	for g := range gids {
		res.gids = append(res.gids, g)
	}
	slices.Sort(res.gids)
	return res, nil
}

// splitTar reads the tar stream r and adds its tar-split entries to p, the
// way tar-split's asm.NewInputTarStream does (the same parser, the same
// entries: raw header segments, a file entry with the crc64 of its data per
// header, the end of the archive and any padding after it), and calls owner
// with every header. Unlike asm it does not copy the stream to a pipe.
func splitTar(r io.Reader, p tsstorage.Packer, owner func(*tar.Header)) error {
	fp := &crcPutter{}
	tr := tar.NewReader(r)
	tr.RawAccounting = true
	segment := func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		_, err := p.AddEntry(tsstorage.Entry{Type: tsstorage.SegmentType, Payload: b})
		return err
	}
	for {
		hdr, err := tr.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return err
			}
			if err := segment(tr.RawBytes()); err != nil {
				return err
			}
			break
		}
		if err := segment(tr.RawBytes()); err != nil {
			return err
		}
		owner(hdr)
		var csum []byte
		if hdr.Size > 0 {
			if _, csum, err = fp.Put(hdr.Name, tr); err != nil {
				return err
			}
		}
		e := tsstorage.Entry{Type: tsstorage.FileType, Size: hdr.Size, Payload: csum}
		e.SetName(hdr.Name)
		if _, err := p.AddEntry(e); err != nil {
			return err
		}
		if err := segment(tr.RawBytes()); err != nil {
			return err
		}
	}
	// Whatever follows the end-of-archive blocks.
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if err := segment(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
