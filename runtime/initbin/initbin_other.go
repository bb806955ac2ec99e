//go:build !amd64 && !arm64

package initbin

// embedded is empty: no agent is built for this architecture.
var embedded []byte
