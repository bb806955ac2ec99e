package build

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock/image"
)

// maxID is the largest user or group ID a file or process can have
// (2^32-2: 2^32-1 is the kernel's "no ID", (uid_t)-1).
const maxID = 1<<32 - 2

// checkStopSignal checks a STOPSIGNAL value as docker build does: a signal
// number 1-64, or a name with or without "SIG" ("SIGTERM", "term",
// "SIGRTMIN+3"). Errors wrap image.ErrInvalidArgument and name the value.
func checkStopSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return fmt.Errorf("%w: signal %q: want a number 1-64 or a name such as SIGTERM or SIGRTMIN+3", image.ErrInvalidArgument, s)
		}
		return nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	for _, rt := range []struct {
		prefix string
		sign   int
	}{{"SIGRTMIN+", 1}, {"SIGRTMAX-", -1}} {
		if rest, ok := strings.CutPrefix(name, rt.prefix); ok {
			n, err := strconv.Atoi(rest)
			if err == nil && n >= 0 && n <= 30 {
				return nil
			}
		}
	}
	if name == "SIGRTMIN" || name == "SIGRTMAX" || unix.SignalNum(name) != 0 {
		return nil
	}
	return fmt.Errorf("%w: signal %q: want a number 1-64 or a name such as SIGTERM or SIGRTMIN+3", image.ErrInvalidArgument, s)
}

// notAFolder is the error for a COPY/ADD destination or WORKDIR whose path
// (or a folder on the way) is a file in the image: the layer would replace
// the file with a folder (docker build refuses it too).
func notAFolder(p string) error {
	return fmt.Errorf("%w: %q is a file in the image, not a folder (a COPY, ADD or WORKDIR cannot put anything below it)", image.ErrInvalidArgument, p)
}
