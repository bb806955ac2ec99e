package test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Found by the breaker session: bad inputs to the issue-7 commands (export,
// import, build, projects) each fail with a clear error, exit code 125 and
// nothing left behind, and never touch host files outside what they name.

// export -o onto an existing device, fifo or socket is refused: the archive
// used to be renamed over the node (export -o /dev/full replaced the device
// with a 400 MB regular file). The node stays what it was, and no temporary
// file is left in its folder.
func TestBreakExportOverDevice(t *testing.T) {
	r, _ := exportSource(t)
	dir := t.TempDir()
	dev := filepath.Join(dir, "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, int(mkdev(1, 3))); err != nil {
		t.Fatalf("mknod: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.tar")
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{dev, fifo, link} {
		_, errs, code := r.run(t, "export", busyboxImage, "-o", target)
		if code != 125 || !strings.Contains(errs, "invalid argument") || !strings.Contains(errs, target) {
			t.Errorf("export -o %s: code %d, stderr %q; want 125 naming the path as an invalid argument", target, code, errs)
		}
	}
	if fi, err := os.Stat(dev); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("%s is no longer a character device: %v %v", dev, fi.Mode(), err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("%s is no longer a fifo: %v", fifo, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer a symlink: %v", link, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("export left files in %s: %v", dir, names)
	}
	// A regular file is still replaced.
	file := filepath.Join(dir, "x.tar")
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := r.run(t, "export", busyboxImage, "-o", file); code != 0 {
		t.Fatalf("export over a regular file: %d %s", code, errs)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() < 1000 {
		t.Errorf("export over a regular file did not replace it: %v", err)
	}
}

func mkdev(major, minor uint32) uint64 {
	return uint64(major)<<8 | uint64(minor)
}

// tag SRC good bad adds neither name: every name is checked first (the
// good one used to be added before the bad one failed).
func TestBreakTagAllOrNothing(t *testing.T) {
	r, _ := exportSource(t)
	before := imageNames(t, r)
	_, errs, code := r.run(t, "tag", busyboxImage, "brk-good:1", "bad name", "brk-good:2")
	if code != 125 || !strings.Contains(errs, `"bad name"`) {
		t.Errorf("tag with a bad name: code %d, stderr %q; want 125 naming it", code, errs)
	}
	after := imageNames(t, r)
	for id, names := range after {
		if strings.Join(names, ",") != strings.Join(before[id], ",") {
			t.Errorf("image %s: names %v after a failed tag, were %v", id, names, before[id])
		}
	}
	if _, errs, code := r.run(t, "tag", busyboxImage, "brk-good:1", "brk-good:2"); code != 0 {
		t.Fatalf("tag with good names: %d %s", code, errs)
	}
	found := 0
	for _, names := range imageNames(t, r) {
		for _, n := range names {
			if strings.HasPrefix(n, "localhost/brk-good:") {
				found++
			}
		}
	}
	if found != 2 {
		t.Errorf("tag with two good names gave %d of them", found)
	}
}
