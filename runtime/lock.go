package runtime

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
)

// fileLock is an exclusive flock(2) on a lock file (gofrs/flock). flock locks
// belong to the open file description, so two goroutines of one process
// exclude each other as well as two processes do (unlike per-process fcntl
// locks).
type fileLock struct{ fl *flock.Flock }

// lockFile takes an exclusive lock on path, creating it and its folder.
func lockFile(path string) (*fileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	fl := flock.New(path, flock.SetPermissions(0o600))
	if err := fl.Lock(); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &fileLock{fl: fl}, nil
}

// tryLockFile takes the lock on path without waiting; ok is false when
// someone else holds it (a create or a change is under way).
func tryLockFile(path string) (l *fileLock, ok bool, err error) {
	fl := flock.New(path, flock.SetPermissions(0o600))
	ok, err = fl.TryLock()
	if err != nil || !ok {
		return nil, false, err
	}
	return &fileLock{fl: fl}, true, nil
}

// Unlock releases the lock.
func (l *fileLock) Unlock() {
	if l != nil && l.fl != nil {
		l.fl.Close()
		l.fl = nil
	}
}

// writeFileAtomic writes data to path through a temp file, fsync and rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeFileAtomicChunks(path, data, perm, len(data))
}

// writeFileAtomicChunks is writeFileAtomic writing data chunk bytes at a
// time (chunk <= 0: at once).
func writeFileAtomicChunks(path string, data []byte, perm os.FileMode, chunk int) error {
	if chunk <= 0 {
		chunk = len(data)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	for rest := data; len(rest) > 0; {
		n := min(chunk, len(rest))
		if _, err := f.Write(rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
