package pocketdock

import (
	"errors"

	"github.com/pocketdock/pocketdock/image"
	"github.com/pocketdock/pocketdock/project"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// Errors of the SDK, matched with errors.Is. Every error pocketdock returns
// wraps one of these when it is one of these cases, and carries the operation
// and the container's name or ID in its text (API.md, Errors).
var (
	// ErrContainerNotFound: no container has that name, ID or unique ID prefix.
	ErrContainerNotFound = pdrt.ErrContainerNotFound
	// ErrContainerNotRunning: the container exists but is not running.
	ErrContainerNotRunning = pdrt.ErrContainerNotRunning
	// ErrContainerGone: the container was removed while a handle was held.
	ErrContainerGone = pdrt.ErrContainerGone
	// ErrImageNotFound: the image is not in the local store and could not be pulled
	// (or the pull policy is never); wraps the pull error when there was one.
	ErrImageNotFound = image.ErrImageNotFound
	// ErrImageInUse: an image to remove is used by a container.
	ErrImageInUse = image.ErrImageInUse
	// ErrSessionClosed: a call on a closed Session.
	ErrSessionClosed = errors.New("session closed")
	// ErrProjectNotInitialized: no .pocketdock/ project was found.
	ErrProjectNotInitialized = project.ErrNotInitialized
	// ErrInvalidArgument: a bad size, percent, port, path, name or option value.
	ErrInvalidArgument = pdrt.ErrInvalidArgument
	// ErrConflict: a name or port is already taken.
	ErrConflict = pdrt.ErrConflict
	// ErrHostUnsupported: the host lacks root, overlay or a cgroup controller; the
	// text says what is missing and how to fix it.
	ErrHostUnsupported = pdrt.ErrHostUnsupported
)
