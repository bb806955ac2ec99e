package build

import (
	"errors"
	"strings"
	"testing"

	"github.com/pocketdock/pocketdock/image"
)

// STOPSIGNAL takes what docker build takes and refuses the rest naming the
// value (SIGBOGUS used to go into the image config unchecked).
func TestCheckStopSignal(t *testing.T) {
	for _, ok := range []string{"SIGTERM", "term", "9", "64", "SIGKILL", "SIGRTMIN+3", "rtmax-2", "SIGRTMIN", "SIGWINCH"} {
		if err := checkStopSignal(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"SIGBOGUS", "0", "65", "-1", "", "SIGRTMIN+x", "TERM "} {
		err := checkStopSignal(bad)
		if !errors.Is(err, image.ErrInvalidArgument) || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("%q: %v, want ErrInvalidArgument naming it", bad, err)
		}
	}
}

// --chown IDs beyond what the kernel can hold are refused (99999999999 used
// to be written into the layer).
func TestLookupOwnerRange(t *testing.T) {
	if _, err := lookupOwner("", "4294967294:0"); err != nil {
		t.Errorf("largest ID: %v", err)
	}
	for _, bad := range []string{"99999999999", "0:4294967295", "4294967295"} {
		if _, err := lookupOwner("", bad); !errors.Is(err, image.ErrInvalidArgument) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: %v, want ErrInvalidArgument naming it", bad, err)
		}
	}
}
