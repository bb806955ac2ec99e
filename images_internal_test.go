package pocketdock

import (
	"encoding/json"
	"testing"

	"github.com/pocketdock/pocketdock/image"
)

// An image without names (untagged: pulled by digest, loaded from an
// archive that has no tags) has Names [] — "names": [] in JSON, not null.
func TestImageInfoUntaggedNames(t *testing.T) {
	info := imageInfo(&image.Image{ID: "4fe4c67111ec"})
	if info.Names == nil || len(info.Names) != 0 {
		t.Fatalf("Names = %#v, want an empty list", info.Names)
	}
	b, err := json.Marshal(struct {
		Names []string `json:"names"`
	}{info.Names})
	if err != nil || string(b) != `{"names":[]}` {
		t.Errorf("JSON %s (%v), want {\"names\":[]}", b, err)
	}
	tagged := imageInfo(&image.Image{ID: "x", Names: []string{"docker.io/pocketdock/busybox:latest"}})
	if len(tagged.Names) != 1 {
		t.Errorf("tagged Names = %v", tagged.Names)
	}
}
