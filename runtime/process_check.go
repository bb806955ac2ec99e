package runtime

import (
	"fmt"
	"path"
	"strings"
)

// checkProcess validates the default command environment resolved at create
// from the image config and the options, so that a container no command
// could ever run in is refused up front: every env entry must be KEY=VALUE
// with a non-empty KEY and no NUL byte, and the working directory must have
// no NUL byte. A relative working directory (an image config may carry one)
// is taken from / as docker does ("app" → "/app"). Errors wrap
// ErrInvalidArgument and name the entry.
func checkProcess(p *Process) error {
	for _, kv := range p.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
			return fmt.Errorf("%w: environment entry %q (from the image or the options): want KEY=VALUE without NUL bytes", ErrInvalidArgument, kv)
		}
	}
	if strings.IndexByte(p.Cwd, 0) >= 0 {
		return fmt.Errorf("%w: working directory %q: NUL bytes are not allowed", ErrInvalidArgument, p.Cwd)
	}
	p.Cwd = path.Join("/", p.Cwd)
	return nil
}
