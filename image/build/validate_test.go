package build

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pocketdock/pocketdock/image"
)

// STOPSIGNAL takes what docker build takes and refuses the rest naming the
// value (SIGBOGUS used to go into the image config unchecked).
func TestCheckStopSignal(t *testing.T) {
	for _, ok := range []string{"SIGTERM", "term", "9", "64", "SIGKILL", "SIGRTMIN+3", "rtmax-2", "SIGRTMIN", "SIGWINCH"} {
		if err := checkStopSignal(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"SIGBOGUS", "0", "65", "-1", "", "SIGRTMIN+x", "TERM "} {
		err := checkStopSignal(bad)
		if !errors.Is(err, image.ErrInvalidArgument) || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("%q: %v, want ErrInvalidArgument naming it", bad, err)
		}
	}
}

// --chown IDs beyond what the kernel can hold are refused (99999999999 used
// to be written into the layer).
func TestLookupOwnerRange(t *testing.T) {
	if _, err := lookupOwner("", "4294967294:0"); err != nil {
		t.Errorf("largest ID: %v", err)
	}
	for _, bad := range []string{"99999999999", "0:4294967295", "4294967295"} {
		if _, err := lookupOwner("", bad); !errors.Is(err, image.ErrInvalidArgument) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: %v, want ErrInvalidArgument naming it", bad, err)
		}
	}
}

// A context folder swapped for a symlink to a host folder between resolving
// the COPY sources and writing the layer (or hashing them for the cache)
// does not make the build read the host file: the data is opened through an
// os.Root of the context.
func TestCopySwappedFolderStaysInContext(t *testing.T) {
	ctx := t.TempDir()
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ctx, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "sub", "file"), []byte("context"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "file"), []byte("HOST-SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{ctx, "."} {
		if root == "." {
			t.Chdir(ctx)
		}
		spec := copySpec{root: root, sources: []string{"sub"}, dest: "/app/"}
		es, err := spec.collect()
		if err != nil {
			t.Fatal(err)
		}
		// The swap.
		if err := os.Rename(filepath.Join(ctx, "sub"), filepath.Join(ctx, "sub.orig")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(ctx, "sub")); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		err = writeTar(&buf, es)
		if strings.Contains(buf.String(), "HOST-SECRET") {
			t.Errorf("root %q: the layer holds the host file's data", root)
		}
		if !errors.Is(err, image.ErrInvalidArgument) {
			t.Errorf("root %q: writeTar after the swap: %v, want ErrInvalidArgument", root, err)
		}
		if _, err := digestEntries(es); !errors.Is(err, image.ErrInvalidArgument) {
			t.Errorf("root %q: digest after the swap: %v, want ErrInvalidArgument", root, err)
		}
		// Undo the swap for the next round.
		os.Remove(filepath.Join(ctx, "sub"))
		if err := os.Rename(filepath.Join(ctx, "sub.orig"), filepath.Join(ctx, "sub")); err != nil {
			t.Fatal(err)
		}
	}
}

// ADD URL below a path that is a file in the image fails naming it, as
// COPY does (the layer would replace the file with a folder).
func TestRemoteEntriesBelowAFile(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := []*fetched{{url: "http://127.0.0.1/x.txt", name: "x.txt", file: "/nonexistent"}}
	for _, dest := range []string{"/etc/passwd/", "/etc/passwd/x", "/etc/passwd/a/b/"} {
		if _, err := remoteEntries(f, root, dest, owner{}, 0o600); !errors.Is(err, image.ErrInvalidArgument) || !strings.Contains(err.Error(), `"/etc/passwd`) {
			t.Errorf("%s: %v, want ErrInvalidArgument naming /etc/passwd", dest, err)
		}
	}
	if es, err := remoteEntries(f, root, "/etc/passwd", owner{}, 0o600); err != nil || len(es) != 1 || es[0].name != "etc/passwd" {
		t.Errorf("onto the file: %v %v", es, err)
	}
}

// ADD of a local archive onto a path that is a file in the image fails
// naming it (the members would go below the file).
func TestAddArchiveOntoAFile(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "m.txt", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("m"))
	_ = tw.Close()
	if err := os.WriteFile(filepath.Join(ctx, "a.tar"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := copySpec{root: ctx, sources: []string{"a.tar"}, dest: "/etc/passwd", destRoot: root, add: true}
	if _, err := spec.collect(); !errors.Is(err, image.ErrInvalidArgument) || !strings.Contains(err.Error(), `"/etc/passwd"`) {
		t.Errorf("ADD a.tar /etc/passwd: %v, want ErrInvalidArgument naming it", err)
	}
	spec.dest = "/opt/"
	if es, err := spec.collect(); err != nil || len(es) == 0 {
		t.Errorf("ADD a.tar /opt/: %v %v", es, err)
	}
}
