package pocketdock

import (
	"context"
	"errors"
	"testing"
)

// ExportImages refuses contradictory or missing selections before it opens
// anything (so these run without root).
func TestExportImagesBadSelection(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for _, c := range []struct {
		refs []string
		all  bool
		path string
	}{
		{[]string{"pocketdock/busybox"}, true, "x.tar"},
		{nil, false, "x.tar"},
		{nil, true, ""},
	} {
		if _, err := ExportImages(ctx, root, c.refs, c.all, c.path, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ExportImages(%v, all=%v, %q) = %v, want ErrInvalidArgument", c.refs, c.all, c.path, err)
		}
	}
}
