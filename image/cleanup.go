package image

import (
	"fmt"
	"path/filepath"

	"github.com/gofrs/flock"
	"go.podman.io/storage"
)

// copyLock serialises pocketdock's image copies (import, pull) on one store,
// across processes: a failed copy removes the layers it left behind, and
// must not take a concurrent copy's not-yet-committed layers for those.
// The returned func releases it.
func (s *Store) copyLock() (func(), error) {
	path := filepath.Join(s.graphRoot, "pocketdock-copy.lock")
	fl := flock.New(path, flock.SetPermissions(0o600))
	if err := fl.Lock(); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { fl.Close() }, nil
}

// layerIDs returns the IDs of every layer in the store.
func (s *Store) layerIDs() (map[string]bool, error) {
	layers, err := s.store.Layers()
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(layers))
	for _, l := range layers {
		ids[l.ID] = true
	}
	return ids, nil
}

// removeStrayLayers deletes the layers a failed copy left: layers not in
// before, holding image data (an uncompressed digest; container layers
// have none), that no image, container or other layer uses. Removing one
// may free its parent, so it repeats until nothing changes. Errors are
// ignored: this is best-effort cleanup after an error already reported.
func (s *Store) removeStrayLayers(before map[string]bool) {
	for {
		layers, err := s.store.Layers()
		if err != nil {
			return
		}
		used := map[string]bool{}
		for _, l := range layers {
			if l.Parent != "" {
				used[l.Parent] = true
			}
		}
		if imgs, err := s.store.Images(); err == nil {
			for _, img := range imgs {
				used[img.TopLayer] = true
				for _, l := range img.MappedTopLayers {
					used[l] = true
				}
			}
		} else {
			return
		}
		if cs, err := s.store.Containers(); err == nil {
			for _, c := range cs {
				used[c.LayerID] = true
			}
		} else {
			return
		}
		removed := false
		for _, l := range layers {
			if before[l.ID] || used[l.ID] || l.UncompressedDigest == "" {
				continue
			}
			if err := s.store.DeleteLayer(l.ID); err == nil || err == storage.ErrLayerUnknown {
				removed = true
			}
		}
		if !removed {
			return
		}
	}
}

// guardCopy runs copy under copyLock and, when it fails, removes the
// layers it left behind.
func (s *Store) guardCopy(copy func() error) error {
	unlock, err := s.copyLock()
	if err != nil {
		return err
	}
	defer unlock()
	before, err := s.layerIDs()
	if err != nil {
		return err
	}
	if err := copy(); err != nil {
		s.removeStrayLayers(before)
		return err
	}
	return nil
}
