package build

import (
	goruntime "runtime"
	"runtime/debug"
	"strings"
)

// PlatformArgs are the automatic platform ARGs docker's builder defines
// (BuildKit's TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT,
// BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT). pocketdock builds for
// the machine it runs on, so TARGET* and BUILD* are equal: OS "linux",
// ARCH Go's GOARCH ("amd64", "arm64", "arm", …), VARIANT "v6"/"v7" on 32-bit
// arm (from GOARM) and "" elsewhere, PLATFORM "OS/ARCH[/VARIANT]". As in
// docker they are in scope in FROM lines without a declaration, and inside a
// stage after `ARG TARGETARCH` (no value); --build-arg cannot hide them
// from FROM but a stage ARG takes a --build-arg over them.
var PlatformArgs = []string{"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
	"BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT"}

// platformArgs returns the values of PlatformArgs for this machine.
func platformArgs() map[string]string {
	goos, arch, variant := "linux", goruntime.GOARCH, armVariant()
	plat := goos + "/" + arch
	if variant != "" {
		plat += "/" + variant
	}
	out := map[string]string{}
	for _, p := range []string{"TARGET", "BUILD"} {
		out[p+"PLATFORM"], out[p+"OS"], out[p+"ARCH"], out[p+"VARIANT"] = plat, goos, arch, variant
	}
	return out
}

// armVariant is the arm variant of this binary ("" when not 32-bit arm):
// "v" plus GOARM's number as the binary was built, "v7" when unknown.
func armVariant() string {
	if goruntime.GOARCH != "arm" {
		return ""
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" && s.Value != "" {
				return "v" + strings.SplitN(s.Value, ",", 2)[0]
			}
		}
	}
	return "v7"
}
