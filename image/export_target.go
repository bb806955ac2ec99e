package image

import (
	"fmt"
	"io/fs"
	"os"
)

// checkExportTarget refuses an export path that exists and is not a regular
// file (following symlinks): a device such as /dev/null or /dev/stdout, a
// fifo or a socket. Export writes a temporary file and renames it over the
// path, which would replace the device node itself with the archive (as
// docker save -o, pocketdock refuses them). abs is path made absolute.
func checkExportTarget(path, abs string) error {
	fi, err := os.Stat(abs)
	if err != nil || fi.Mode().IsRegular() {
		return nil
	}
	kind := "not a regular file"
	switch m := fi.Mode(); {
	case m&fs.ModeDevice != 0:
		kind = "a device"
	case m&fs.ModeNamedPipe != 0:
		kind = "a fifo"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	}
	return fmt.Errorf("export to %q: %w: it is %s (want a regular file name ending in .tar, .tar.gz or .tgz; to write the archive to a stream, leave out -o and redirect stdout)", path, ErrInvalidArgument, kind)
}
