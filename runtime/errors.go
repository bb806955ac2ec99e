package runtime

import (
	"errors"

	"github.com/pocketdock/pocketdock/image"
)

// Sentinel errors of the runtime. The root package re-exports them as the same
// values, so errors.Is works across both.
var (
	// ErrContainerNotFound: no container has that name, ID or ID prefix.
	ErrContainerNotFound = errors.New("container not found")
	// ErrContainerNotRunning: the container exists but is not running (created, paused or exited).
	ErrContainerNotRunning = errors.New("container not running")
	// ErrContainerGone: the container was removed while a handle to it was held.
	ErrContainerGone = errors.New("container is gone")
	// ErrInvalidArgument: a bad name, size, percent, port, path or option value.
	// It is the image package's value, so both packages' errors match it.
	ErrInvalidArgument = image.ErrInvalidArgument
	// ErrConflict: a name or a host port is already taken (a port error names its holder).
	ErrConflict = errors.New("conflict")
	// ErrHostUnsupported: the host lacks something pocketdock needs (root, overlay, a cgroup controller).
	ErrHostUnsupported = errors.New("host unsupported")
)
