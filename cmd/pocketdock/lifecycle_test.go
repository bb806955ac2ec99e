package main

import (
	"errors"
	"testing"

	"github.com/pocketdock/pocketdock"
)

func TestParseVolume(t *testing.T) {
	for in, want := range map[string]pocketdock.Mount{
		"/h:/c":    {Source: "/h", Target: "/c"},
		"/h:/c:ro": {Source: "/h", Target: "/c", ReadOnly: true},
		"/h:/c:rw": {Source: "/h", Target: "/c"},
		"h:c":      {Source: "h", Target: "c"}, // checked later by the SDK
	} {
		got, err := parseVolume(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, in := range []string{"/h", "/h:", ":/c", "/h:/c:rx", "/h:/c:ro:x", ""} {
		if _, err := parseVolume(in); !errors.Is(err, pocketdock.ErrInvalidArgument) {
			t.Errorf("%q: %v", in, err)
		}
	}
}
