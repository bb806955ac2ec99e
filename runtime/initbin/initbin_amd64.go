package initbin

import _ "embed"

//go:embed pocketdock-init-amd64
var embedded []byte
