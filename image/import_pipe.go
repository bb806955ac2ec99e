package image

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// importPipe imports path when it is a fifo or a character device (a pipe
// such as bash's <(…) or /dev/stdin): such a stream can be read only once and
// cannot seek, so it is spooled to the store's tmp like ImportFrom's input
// (detecting the kind used to fail with "illegal seek"). ok is false for
// any other path (Import goes on with it).
func (s *Store) importPipe(ctx context.Context, path, abs, tag string, progress io.Writer) (imgs []*Image, ok bool, err error) {
	fi, err := os.Stat(abs)
	if err != nil || fi.Mode()&(fs.ModeNamedPipe|fs.ModeCharDevice) == 0 {
		return nil, false, nil
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, true, fmt.Errorf("import %q: %w", path, err)
	}
	defer f.Close()
	imgs, err = s.ImportFrom(ctx, f, tag, progress)
	if err != nil {
		return nil, true, fmt.Errorf("import %q: %w", path, err)
	}
	return imgs, true, nil
}
