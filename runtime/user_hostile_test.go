package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A FIFO, a device-like non-regular file or a huge file as /etc/passwd:
// resolveUser fails at once with ErrInvalidArgument instead of blocking.
func TestResolveUserHostileFiles(t *testing.T) {
	for name, setup := range map[string]func(p string) error{
		"fifo": func(p string) error { return unix.Mkfifo(p, 0o644) },
		"dir":  func(p string) error { return os.Mkdir(p, 0o755) },
		"huge": func(p string) error {
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(maxRootfsFile + 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := setup(filepath.Join(root, "etc", "passwd")); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, _, _, _, err := resolveUser(root, "daemon")
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("want ErrInvalidArgument, got %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("resolveUser blocks")
			}
		})
	}
}
