package build

import (
	"os"
)

// ReadInContext reads file name (relative) of the build context folder
// contextDir through an os.Root: symlinks are followed only while they stay
// inside the context, so a context whose Dockerfile or .dockerignore links to
// a host file outside it (../../etc/shadow, /etc/shadow) never reads that
// file — the error says the path escapes. Errors are os.Root's (wrapping
// os.ErrNotExist for a missing file).
func ReadInContext(contextDir, name string) ([]byte, error) {
	r, err := os.OpenRoot(contextDir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadFile(name)
}
