package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Mount is one bind mount of a host path into a container (OCI mounts entry
// of type "bind", options rbind and, when ReadOnly, ro). Nothing is chowned:
// the container's user needs a host folder it may write.
type Mount struct {
	// Source is the host path (file or directory). It must exist; a relative
	// path is taken from the current directory and stored absolute.
	Source string `json:"source"`
	// Target is the absolute path in the container: not "/", and not /proc,
	// /sys, /dev or anything under them.
	Target string `json:"target"`
	// ReadOnly mounts it read-only.
	ReadOnly bool `json:"read_only,omitempty"`
}

// reservedTargets are the container folders a volume may not cover: the
// kernel's pseudo filesystems and the runtime's /dev (which holds the agent).
var reservedTargets = []string{"/proc", "/sys", "/dev"}

// ValidateMounts checks ms and returns them normalised (absolute, cleaned
// paths) and ordered by the depth of their targets (a parent is mounted
// before what lies below it; equal depths keep their order). Errors wrap
// ErrInvalidArgument and name the bad value: a missing host path, a
// container path that is relative, "/", under /proc, /sys or /dev, or given twice.
func ValidateMounts(ms []Mount) ([]Mount, error) {
	out := make([]Mount, 0, len(ms))
	seen := map[string]bool{}
	for _, m := range ms {
		if m.Source == "" {
			return nil, fmt.Errorf("%w: volume %q: empty host path", ErrInvalidArgument, m.Source+":"+m.Target)
		}
		if strings.ContainsRune(m.Source, 0) || strings.ContainsRune(m.Target, 0) {
			return nil, fmt.Errorf("%w: volume %q: NUL byte in a path", ErrInvalidArgument, m.Source+":"+m.Target)
		}
		src, err := filepath.Abs(m.Source)
		if err != nil {
			return nil, fmt.Errorf("%w: volume host path %q: %v", ErrInvalidArgument, m.Source, err)
		}
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("%w: volume host path %q does not exist (create it first; nothing is created or chowned for you): %v", ErrInvalidArgument, m.Source, err)
		}
		if !filepath.IsAbs(m.Target) {
			return nil, fmt.Errorf("%w: volume container path %q: want an absolute path", ErrInvalidArgument, m.Target)
		}
		tgt := filepath.Clean(m.Target)
		if tgt == "/" {
			return nil, fmt.Errorf("%w: volume container path %q: cannot mount over the root", ErrInvalidArgument, m.Target)
		}
		for _, r := range reservedTargets {
			if tgt == r || strings.HasPrefix(tgt, r+"/") {
				return nil, fmt.Errorf("%w: volume container path %q: not under /proc, /sys or /dev", ErrInvalidArgument, m.Target)
			}
		}
		if seen[tgt] {
			return nil, fmt.Errorf("%w: volume container path %q given twice", ErrInvalidArgument, m.Target)
		}
		seen[tgt] = true
		out = append(out, Mount{Source: src, Target: tgt, ReadOnly: m.ReadOnly})
	}
	sort.SliceStable(out, func(i, j int) bool { return pathDepth(out[i].Target) < pathDepth(out[j].Target) })
	return out, nil
}

func pathDepth(p string) int { return strings.Count(filepath.Clean(p), "/") }

// checkMountSources fails when a stored volume's host path vanished (resume
// after the host folder was removed), naming it.
func checkMountSources(ms []Mount) error {
	for _, m := range ms {
		if _, err := os.Stat(m.Source); err != nil {
			return fmt.Errorf("%w: volume host path %q (for %s) is gone: %v", ErrInvalidArgument, m.Source, m.Target, err)
		}
	}
	return nil
}

// addVolumeMounts appends the bind mounts of ms to spec, in their order.
func addVolumeMounts(spec *specs.Spec, ms []Mount) {
	for _, m := range ms {
		opts := []string{"rbind", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: opts})
	}
}
