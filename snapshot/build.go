package snapshot

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"go.podman.io/storage"
	"go.podman.io/storage/pkg/archive"

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
	st := o.Store.Storage()
	c, err := st.Container(o.ContainerID)
	if err != nil {
		return nil, "", fmt.Errorf("layer of %s: %w", o.ContainerID, err)
	}
	drv, err := st.GraphDriver()
	if err != nil {
		return nil, "", err
	}
	md, err := drv.Metadata(c.LayerID)
	if err != nil {
		return nil, "", fmt.Errorf("layer of %s: layer metadata: %w", o.ContainerID, err)
	}
	upper := md["UpperDir"]
	if upper == "" {
		return nil, "", fmt.Errorf("layer of %s: the storage driver %s has no overlay upper folder", o.ContainerID, drv.String())
	}
	var lowers []string
	if md["LowerDir"] != "" {
		lowers = splitLowers(md["LowerDir"])
	}
	baseImg, err := st.Image(o.BaseImage)
	if err != nil {
		return nil, "", fmt.Errorf("layer of %s: base image %s: %w", o.ContainerID, o.BaseImage, err)
	}
	pending := pendingName(o.ContainerID)
	removePending(o.Store, o.ContainerID)
	drop, err := scanUpper(upper, lowers, o.Exclude)
	if err != nil {
		return nil, "", fmt.Errorf("layer of %s: %w", o.ContainerID, err)
	}
	var layer *storage.Layer
	if !nativeDiff(st.RunRoot()) {
		layer, err = spooledLayer(o.Store, o.ContainerID, c.LayerID, baseImg.TopLayer, drop, pending)
		if err != nil {
			return nil, "", fmt.Errorf("layer of %s: %w", o.ContainerID, err)
		}
	} else {
		rc, err := archive.TarWithOptions(upper, &archive.TarOptions{
			Compression:     archive.Uncompressed,
			WhiteoutFormat:  archive.OverlayWhiteoutFormat,
			WhiteoutData:    lowers,
			ExcludePatterns: excludePatterns(drop),
		})
		if err != nil {
			return nil, "", fmt.Errorf("diff of layer %s: %w", c.LayerID, err)
		}
		layer, _, err = st.PutLayer("", baseImg.TopLayer, []string{pending}, "", false, nil, rc)
		rc.Close()
		if err != nil {
			return nil, "", fmt.Errorf("layer of %s: write the new layer: %w", o.ContainerID, err)
		}
	}
	if err := st.AddNames(layer.ID, []string{image.ChainID(baseImg.TopLayer, layer.UncompressedDigest)}); err != nil {
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

// splitLowers splits the overlay driver's LowerDir metadata (":"-separated).
func splitLowers(s string) []string { return strings.Split(s, ":") }
