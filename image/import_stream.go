package image

import (
	"context"
	"fmt"
	"io"
	"os"
)

// ImportFrom is Import for an archive read from r (as `docker load <
// FILE` reads stdin): the stream is first spooled to a file in the store's
// temporary folder (removed afterwards; a killed process's is removed by the
// next one that opens the store), then imported like any file Import takes.
// Errors as Import's (an empty stream is ErrInvalidArgument), and read
// errors of r; ctx cancellation stops the spooling.
func (s *Store) ImportFrom(ctx context.Context, r io.Reader, tag string, progress io.Writer) ([]*Image, error) {
	f, err := os.CreateTemp(s.sys.BigFilesTemporaryDir, "stream-import-")
	if err != nil {
		return nil, fmt.Errorf("import from the input: %w", err)
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, readerWithContext{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("import from the input: reading: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("import from the input: %w: it is empty (want a docker-archive, oci-archive or rootfs tarball)", ErrInvalidArgument)
	}
	imgs, err := s.Import(ctx, f.Name(), tag, progress)
	if err != nil {
		return nil, fmt.Errorf("import from the input: %w", err)
	}
	return imgs, nil
}

// readerWithContext stops a copy once ctx is done.
type readerWithContext struct {
	ctx context.Context
	r   io.Reader
}

func (c readerWithContext) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
