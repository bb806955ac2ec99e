package test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pocketdock/pocketdock"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// listingScript prints one line per path below / (not /proc, /sys, /dev and
// the paths given as argv): type, mode, owner, link count of non-folders,
// size of files, symlink target, and xattrs (security.capability included).
const listingScript = `
import os, stat, sys
skip = {"/proc", "/sys", "/dev"} | set(sys.argv[1:])
out = []
for root, dirs, files in os.walk("/"):
    dirs[:] = sorted(d for d in dirs if os.path.join(root, d) not in skip)
    for n in sorted(dirs + files):
        p = os.path.join(root, n)
        if p in skip:
            continue
        st = os.lstat(p)
        line = [p, stat.filemode(st.st_mode), "%d:%d" % (st.st_uid, st.st_gid)]
        if not stat.S_ISDIR(st.st_mode):
            line.append("links=%d" % st.st_nlink)
        if stat.S_ISREG(st.st_mode):
            line.append("size=%d" % st.st_size)
        if stat.S_ISLNK(st.st_mode):
            line.append("-> " + os.readlink(p))
        try:
            for x in sorted(os.listxattr(p, follow_symlinks=False)):
                line.append("%s=%s" % (x, os.getxattr(p, x, follow_symlinks=False).hex()))
        except OSError:
            pass
        out.append(" ".join(line))
print("\n".join(out))
`

// rootState is hostState plus the store's layers and images.
func rootState(t *testing.T) []string {
	t.Helper()
	out := hostState(t)
	m, err := pdrt.Open(stateRoot)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st, err := m.Images()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := st.Storage().Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		out = append(out, "layer "+l.ID)
	}
	imgs, err := st.Storage().Images()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range imgs {
		out = append(out, "image "+i.ID)
	}
	tmp, _ := os.ReadDir(st.TempDir())
	for _, e := range tmp {
		out = append(out, "tmp "+e.Name())
	}
	return out
}

func TestSnapshot(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	vol := t.TempDir()
	c := newContainer(t, pocketdock.Options{Image: pythonImage, User: "root", Volumes: map[string]string{vol: "/vol/data"}})
	// CAP_NET_BIND_SERVICE (10), permitted and effective: a v2 vfs capability.
	mustRun(t, c, `set -e
mkdir /snap && echo content > /snap/file && ln /snap/file /snap/hard && ln -s file /snap/sym && mkfifo /snap/fifo
echo cap > /snap/capfile
python3 -c '
import os, struct
os.setxattr("/snap/file", "user.pocketdock", b"value")
os.setxattr("/snap/capfile", "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0))
'
rm /etc/issue /etc/motd
rm -rf /usr/share/doc/bash && mkdir /usr/share/doc/bash && echo new > /usr/share/doc/bash/only
echo v > /vol/data/in-volume`)
	want := mustRun(t, c, "python3 - /vol", pocketdock.WithStdin(strings.NewReader(listingScript)))
	for _, s := range []string{"/snap/file -rw-r--r-- 0:0 links=2", "/snap/hard -rw-r--r-- 0:0 links=2", "user.pocketdock=", "security.capability=01000002", "/snap/sym lrwxrwxrwx", "-> file", "/snap/fifo prw"} {
		if !strings.Contains(want, s) {
			t.Fatalf("listing of the source lacks %q:\n%s", s, want)
		}
	}
	before := rootState(t)
	out, errs, code := cli(t, "snapshot", c.Name(), "pd-test-snap")
	if code != 0 {
		t.Fatalf("snapshot: %d %q %q", code, out, errs)
	}
	id := strings.TrimSpace(out)
	t.Cleanup(func() { cli(t, "rmi", id) })
	checkSnapshotLayer(t, id)
	if added := diffState(before, rootState(t)); len(added) != 2 {
		t.Fatalf("snapshot: want one new layer and one new image, got %v", added)
	}
	// The source runs on (it was thawed).
	mustRun(t, c, "true")

	n := newContainer(t, pocketdock.Options{Image: "pd-test-snap", User: "root"})
	got := mustRun(t, n, "python3 -", pocketdock.WithStdin(strings.NewReader(listingScript)))
	if got != want {
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		t.Fatalf("listing of the snapshot differs: only in snapshot %q; only in source %q", diffState(wl, gl), diffState(gl, wl))
	}
	for _, check := range []string{
		"test ! -e /etc/issue && test ! -e /etc/motd",
		`test "$(ls /usr/share/doc/bash)" = only`,
		"test ! -e /vol",
		`test "$(cat /snap/hard)" = content`,
	} {
		mustRun(t, n, check)
	}

	// A user file named .wh.* is refused, naming it, and nothing is committed.
	mustRun(t, c, "touch /snap/.wh.x")
	before = rootState(t)
	_, err := c.Snapshot(ctx, "pd-test-snap-bad")
	if !errors.Is(err, pocketdock.ErrInvalidArgument) || !strings.Contains(err.Error(), "/snap/.wh.x") {
		t.Fatalf("snapshot with .wh.x: %v", err)
	}
	if added := diffState(before, rootState(t)); len(added) > 0 {
		t.Fatalf("refused snapshot left behind: %v", added)
	}
	ents, _ := os.ReadDir(stateRoot + "/storage/tmp")
	for _, e := range ents {
		if strings.Contains(e.Name(), c.ID()) {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
	mustRun(t, c, "true")
}
