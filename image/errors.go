package image

import "errors"

// Sentinel errors of package image. Errors returned by this package wrap one
// of these (match with errors.Is) together with the operation, the offending
// value and, where there is one, the underlying cause. The module's root
// package re-exports them as the same values.
var (
	// ErrImageNotFound: no local image matches the reference, and none could
	// be pulled (policy "never", or the pull failed; the pull error is
	// wrapped too, so errors.Is/As also see it).
	ErrImageNotFound = errors.New("image not found")

	// ErrImageInUse: the image cannot be removed because at least one
	// storage container (a container's root filesystem) is based on it.
	ErrImageInUse = errors.New("image is in use by a container")

	// ErrInvalidArgument: bad input (an unknown pull policy, a malformed
	// reference or tag, an unrecognised archive, a missing tag for a rootfs
	// tarball, an ambiguous ID prefix). The message names the bad value and
	// what is allowed.
	ErrInvalidArgument = errors.New("invalid argument")
)
