package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pocketdock/pocketdock"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// snapshotBench measures Snapshot of a container whose diff is 100 MB (100
// files of 1 MiB of random data) against `tar -cf` of the same overlay upper
// folder into a file on the same filesystem, n rounds each, and returns both.
func snapshotBench(ctx context.Context, opts pocketdock.Options, root string, n int) ([]result, error) {
	c, err := pocketdock.CreateNewContainer(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer c.Shutdown(ctx, true)
	res, err := c.Run(ctx, "mkdir /big && i=0; while [ $i -lt 100 ]; do head -c 1048576 /dev/urandom > /big/f$i || exit 1; i=$((i+1)); done", pocketdock.WithTimeout(5*time.Minute))
	if err != nil || !res.OK() {
		return nil, fmt.Errorf("fill the container: %v %+v", err, res)
	}
	m, err := pdrt.Open(root)
	if err != nil {
		return nil, err
	}
	// Its store reference must go, or CloseStores keeps the store's mount.
	defer m.Close()
	store, err := m.Images()
	if err != nil {
		return nil, err
	}
	sc, err := store.Storage().Container(c.ID())
	if err != nil {
		return nil, err
	}
	drv, err := store.Storage().GraphDriver()
	if err != nil {
		return nil, err
	}
	md, err := drv.Metadata(sc.LayerID)
	if err != nil {
		return nil, err
	}
	upper := md["UpperDir"]
	tarFile := filepath.Join(root, "upper.tar")
	tarRes, err := measure("tar -cf of the same upper folder (100 MB)", n, func() error {
		defer os.Remove(tarFile)
		return exec.Command("tar", "-cf", tarFile, "-C", upper, ".").Run()
	})
	if err != nil {
		return nil, err
	}
	// Only the snapshot is timed; removing the image again is not.
	snapRes := result{name: "pocketdock Snapshot of a 100 MB diff"}
	for i := 0; i < n; i++ {
		start := time.Now()
		id, err := c.Snapshot(ctx, fmt.Sprintf("localhost/pd-bench-snap:%d", i))
		if err != nil {
			return nil, err
		}
		snapRes.samples = append(snapRes.samples, time.Since(start))
		if err := pocketdock.RemoveImage(ctx, root, id); err != nil {
			return nil, err
		}
	}
	return []result{snapRes, tarRes}, nil
}
