package snapshot

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pocketdock/pocketdock/image"
)

// WriteLayer writes the diff of container o.ContainerID (its overlay upper
// folder, deletions as whiteouts, o.Exclude left out, as Commit takes it) as
// a new layer on the top layer of image o.BaseImage, and returns it for
// image.Store.CommitBuild together with its storage layer ID. It is the
// builder's step commit: the caller commits the layer with a config of its
// own, then calls Committed. Until then the layer is named pending, so
// removing the container (RemoveLeftovers) removes a layer that no image
// took. o.Name, o.Frozen, o.CreatedBy and o.Comment are not used: the
// builder stops the container first. Errors: ErrInvalidArgument for a file
// named .wh.* (named); storage errors.
func WriteLayer(ctx context.Context, o Options) (*image.NewLayer, string, error) {
	src, err := openDiff(o)
	if err != nil {
		return nil, "", fmt.Errorf("layer of %s: %w", o.ContainerID, err)
	}
	st := src.st
	// The builder stops the container before it takes the diff: nothing
	// runs that could change the upper folder.
	layer, err := src.write(o, true)
	if err != nil {
		return nil, "", fmt.Errorf("layer of %s: %w", o.ContainerID, err)
	}
	if err := st.AddNames(layer.ID, []string{image.ChainID(src.baseTop, layer.UncompressedDigest)}); err != nil {
		o.Store.DeleteLayer(layer.ID)
		return nil, "", fmt.Errorf("layer of %s: name the new layer: %w", o.ContainerID, err)
	}
	return &image.NewLayer{DiffID: layer.UncompressedDigest, Size: layer.UncompressedSize, TempPrefix: tempPrefix(o.ContainerID)}, layer.ID, nil
}

// Committed drops the pending name of layer layerID (written by WriteLayer
// for container containerID) once an image holds it.
func Committed(s *image.Store, containerID, layerID string) {
	if err := s.Storage().RemoveNames(layerID, []string{pendingName(containerID)}); err != nil {
		slog.Warn("snapshot: unname the new layer", "layer", layerID, "error", err)
	}
}
