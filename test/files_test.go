package test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

// hostCanary makes a host folder with a secret file that no container may
// read or change, and checks at cleanup that it is unchanged and alone.
func hostCanary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			t.Errorf("host canary folder changed: %v", ents)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "secret")); err != nil || string(b) != "host secret\n" {
			t.Errorf("host canary changed: %q %v", b, err)
		}
	})
	return dir
}

func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func TestFiles(t *testing.T) {
	c := newContainer(t, pocketdock.Options{Image: pythonImage})
	ctx := context.Background()
	canary := hostCanary(t)
	shadowBefore := sha(t, "/etc/shadow")
	t.Cleanup(func() {
		if sha(t, "/etc/shadow") != shadowBefore {
			t.Errorf("host /etc/shadow changed")
		}
	})
	root := func(cmd string) string { return mustRun(t, c, cmd, pocketdock.WithUser("root")) }

	t.Run("write-read-owner", func(t *testing.T) {
		if err := c.WriteFile(ctx, "/home/sandbox/a b:ü\nx.txt", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		b, err := c.ReadFile(ctx, "a b:ü\nx.txt") // relative to the workdir
		if err != nil || string(b) != "hello" {
			t.Fatalf("%q %v", b, err)
		}
		if out := mustRun(t, c, "stat -c %U:%G '/home/sandbox/a b:ü\nx.txt'"); out != "sandbox:sandbox\n" {
			t.Fatalf("owner %q", out)
		}
		if err := c.WriteFile(ctx, "/home/sandbox/new/dir/f", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if out := mustRun(t, c, "stat -c %U /home/sandbox/new/dir"); out != "sandbox\n" {
			t.Fatalf("made dir owner %q", out)
		}
	})
	t.Run("read-missing", func(t *testing.T) {
		if _, err := c.ReadFile(ctx, "/nope/x"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v", err)
		}
		if _, err := c.ReadFile(ctx, "/home"); err == nil {
			t.Fatal("reading a directory worked")
		}
		if _, err := c.ReadFile(ctx, ""); !errors.Is(err, pocketdock.ErrInvalidArgument) {
			t.Fatalf("empty path: %v", err)
		}
	})
	t.Run("list", func(t *testing.T) {
		names, err := c.ListFiles(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(names, "|")
		if !strings.Contains(joined, "new/") || !strings.Contains(joined, "a b:ü\nx.txt") {
			t.Fatalf("%q", names)
		}
	})
	t.Run("read-dotdot-contained", func(t *testing.T) {
		root("echo in-container > /etc/pd-marker")
		b, err := c.ReadFile(ctx, "../../../../../../etc/pd-marker")
		if err != nil || string(b) != "in-container\n" {
			t.Fatalf("%q %v", b, err)
		}
		if err := c.WriteFile(ctx, "/../../../../tmp/dotdot", []byte("in")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat("/tmp/dotdot"); err == nil {
			t.Fatal("write with .. reached the host's /tmp")
		}
		if mustRun(t, c, "cat /tmp/dotdot") != "in" {
			t.Fatal("not in the container")
		}
	})
	t.Run("pull-symlink-to-shadow", func(t *testing.T) {
		root("ln -s /etc/shadow /tmp/shadowlink; ln -s / /tmp/rootlink; ln -s " + canary + "/secret /tmp/canarylink")
		dst := t.TempDir()
		for _, n := range []string{"shadowlink", "rootlink", "canarylink"} {
			if err := c.Pull(ctx, "/tmp/"+n, filepath.Join(dst, n)); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(filepath.Join(dst, n))
			if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("%s: not pulled as a link: %v %v", n, fi, err)
			}
		}
		if l, _ := os.Readlink(filepath.Join(dst, "shadowlink")); l != "/etc/shadow" {
			t.Fatalf("link target %q", l)
		}
	})
	t.Run("pull-dir-with-links", func(t *testing.T) {
		root("mkdir -p /srv/tree/sub && echo data > /srv/tree/sub/f && ln -s / /srv/tree/up && ln -s ../../../../.. /srv/tree/sub/dots && ln -s " + canary + " /srv/tree/canary")
		dst := t.TempDir()
		if err := c.Pull(ctx, "/srv/tree", dst); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"tree/up", "tree/sub/dots", "tree/canary"} {
			fi, err := os.Lstat(filepath.Join(dst, n))
			if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("%s: %v %v", n, fi, err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(dst, "tree/sub/f")); string(b) != "data\n" {
			t.Fatalf("%q", b)
		}
	})
	t.Run("push-through-symlink-parent", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "pd-pushed-file")
		os.WriteFile(src, []byte("pushed"), 0o640)
		// /tmp/rootlink -> / in the container: the push lands in the
		// container's /, never the host's.
		if err := c.Push(ctx, src, "/tmp/rootlink/pd-pushed-file"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat("/pd-pushed-file"); err == nil {
			os.Remove("/pd-pushed-file")
			t.Fatal("push reached the host's /")
		}
		if mustRun(t, c, "cat /pd-pushed-file") != "pushed" {
			t.Fatal("push not in the container's /")
		}
		if err := c.Push(ctx, src, "/../../../pd-dots"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat("/pd-dots"); err == nil {
			os.Remove("/pd-dots")
			t.Fatal("push with .. reached the host's /")
		}
	})
	t.Run("push-into-dir-owner-mode", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "tool.sh")
		os.WriteFile(src, []byte("#!/bin/sh\necho tool\n"), 0o751)
		mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		os.Chtimes(src, mt, mt)
		if err := c.Push(ctx, src, "/home/sandbox"); err != nil {
			t.Fatal(err)
		}
		if out := mustRun(t, c, "stat -c '%a %U %Y' /home/sandbox/tool.sh && /home/sandbox/tool.sh"); out != fmt.Sprintf("751 sandbox %d\ntool\n", mt.Unix()) {
			t.Fatalf("%q", out)
		}
	})
	t.Run("tree-1000-roundtrip", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "big")
		names := []string{"with space", "ünïcödé", "co:lon", "new\nline"}
		for i := 0; i < 1000; i++ {
			d := filepath.Join(src, fmt.Sprintf("d%02d", i%20), names[i%len(names)])
			os.MkdirAll(d, 0o755)
			p := filepath.Join(d, fmt.Sprintf("f%04d", i))
			os.WriteFile(p, []byte(strings.Repeat(fmt.Sprint(i), i%97+1)), fs.FileMode(0o600+(i%2)*0o44))
			mt := time.Unix(1500000000+int64(i)*7, int64(i)*1000)
			os.Chtimes(p, mt, mt)
		}
		os.Symlink("d00/with space", filepath.Join(src, "link"))
		os.Chmod(filepath.Join(src, "d01"), 0o700)
		if err := c.Push(ctx, src, "/home/sandbox/big"); err != nil {
			t.Fatal(err)
		}
		back := filepath.Join(t.TempDir(), "back")
		if err := c.Pull(ctx, "/home/sandbox/big", back); err != nil {
			t.Fatal(err)
		}
		a, b := treeSums(t, src), treeSums(t, back)
		if len(a) < 1000 || strings.Join(a, "\n") != strings.Join(b, "\n") {
			t.Fatalf("trees differ: %d vs %d entries", len(a), len(b))
		}
	})
	t.Run("swap-race", func(t *testing.T) {
		root("mkdir -p /race/d && i=0; while [ $i -lt 50 ]; do echo $i > /race/d/f$i; i=$((i+1)); done; mkdir -p /race/real && cp -a /race/d/. /race/real/")
		// Swap /race/d between a directory and a symlink to / (and to the
		// canary's host path) while copies run.
		swapper, err := c.Detach(ctx, "while :; do mv /race/d /race/x 2>/dev/null; ln -sfn / /race/d; rm -f /race/d; ln -s "+canary+" /race/d; rm -f /race/d; mv /race/x /race/d 2>/dev/null; done", pocketdock.WithUser("root"))
		if err != nil {
			t.Fatal(err)
		}
		defer swapper.Kill(ctx, 9)
		src := filepath.Join(t.TempDir(), "p")
		os.WriteFile(src, []byte("raced"), 0o644)
		for i := 0; i < 30; i++ {
			dst := t.TempDir()
			c.Pull(ctx, "/race/d", filepath.Join(dst, "out")) // may fail; must not escape
			filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if b, _ := os.ReadFile(p); strings.Contains(string(b), "host secret") {
						t.Errorf("pulled the host canary: %s", p)
					}
				}
				return nil
			})
			c.Push(ctx, src, fmt.Sprintf("/race/d/pushed%d", i))
		}
		swapper.Kill(ctx, 9)
		if _, err := os.Stat("/pushed0"); err == nil {
			t.Fatal("push reached the host")
		}
	})
}

// treeSums lists every entry of a tree: path, type, mode, mtime and a
// checksum (files) or target (links).
func treeSums(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		fi, _ := d.Info()
		line := fmt.Sprintf("%q %v", rel, fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			line += fmt.Sprintf(" %d %s", fi.ModTime().UnixNano(), sha(t, p))
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.IsDir():
			line += fmt.Sprintf(" %d", fi.ModTime().Unix())
		}
		out = append(out, line)
		return nil
	})
	sort.Strings(out)
	return out
}

// TestCopy1GiBStreamed pushes and pulls a 1 GiB file and checks that this
// process's heap never grew by anything near its size.
func TestCopy1GiBStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("copies 2 GiB")
	}
	c := newContainer(t, pocketdock.Options{Image: busyboxImage})
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "big")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 30
	f.Truncate(size)
	f.WriteAt([]byte("end"), size-3)
	f.Close()
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	if err := c.Push(ctx, src, "/tmp/big"); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, c, "stat -c %s /tmp/big; tail -c 3 /tmp/big"); out != fmt.Sprintf("%d\nend", size) {
		t.Fatalf("in the container: %q", out)
	}
	back := filepath.Join(dir, "back")
	if err := c.Pull(ctx, "/tmp/big", back); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-sampled
	fi, err := os.Stat(back)
	if err != nil || fi.Size() != size {
		t.Fatalf("pulled: %v %v", fi, err)
	}
	tail := make([]byte, 3)
	bf, _ := os.Open(back)
	bf.ReadAt(tail, size-3)
	bf.Close()
	if string(tail) != "end" {
		t.Fatalf("tail %q", tail)
	}
	if grew := int64(peak.Load()) - int64(base.HeapInuse); grew > 64<<20 {
		t.Fatalf("heap grew by %d bytes while copying 1 GiB", grew)
	}
}
