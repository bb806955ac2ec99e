package image

import (
	"errors"
	"fmt"
	"testing"
)

// Two removals of one image at once (two rmi of it, in two processes or
// goroutines): one removes it, the other gets ErrImageNotFound, never an
// untyped containers/storage error: two deletes by ID, and a delete by ID
// beside an untag of one of two names; many rounds, so that one lands
// between the other's lookup and its delete.
func TestRemoveConcurrent(t *testing.T) {
	s, _ := openStore(t)
	path := layerTar(t, t.TempDir(), false)
	for round := range 15 {
		tag := fmt.Sprintf("race:%d", round)
		img := importOne(t, s, path, tag)
		refs := []string{img.ID, img.ID}
		if round%2 == 1 {
			// Two names: one goroutine deletes the image by ID while the
			// other untags one of its names.
			if _, err := s.Tag(img.ID, tag+"-b"); err != nil {
				t.Fatal(err)
			}
			refs = []string{img.ID, tag}
		}
		errs := make(chan error, 2)
		for _, ref := range refs {
			go func() { errs <- s.Remove(ref) }()
		}
		ok := 0
		for range 2 {
			err := <-errs
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrImageNotFound):
				t.Errorf("round %d: concurrent Remove of %v: %v; want nil or ErrImageNotFound", round, refs, err)
			}
		}
		if ok == 0 {
			t.Errorf("round %d: no concurrent Remove of %v succeeded", round, refs)
		}
		_ = s.Remove(img.ID)
		if _, err := s.Image(img.ID); !errors.Is(err, ErrImageNotFound) {
			t.Fatalf("round %d: image still there: %v", round, err)
		}
	}
}
