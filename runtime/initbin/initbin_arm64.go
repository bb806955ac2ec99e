package initbin

import _ "embed"

//go:embed pocketdock-init-arm64
var embedded []byte
