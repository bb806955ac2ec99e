package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/pocketdock/pocketdock"
)

// benchFiles measures ReadFile/WriteFile of 1 KB (SDK and CLI; targets SDK
// <= 5 ms, CLI <= 50 ms) and a 100 MB push and pull, and prints the
// throughput.
func benchFiles(ctx context.Context, c *pocketdock.Container, cli, root string, n int, add func(result, error) error) error {
	kb := bytes.Repeat([]byte("x"), 1024)
	if err := add(measure("pocketdock SDK WriteFile 1 KB", n*10, func() error {
		return c.WriteFile(ctx, "/tmp/kb", kb)
	})); err != nil {
		return err
	}
	if err := add(measure("pocketdock SDK ReadFile 1 KB", n*10, func() error {
		b, err := c.ReadFile(ctx, "/tmp/kb")
		if err == nil && len(b) != 1024 {
			err = fmt.Errorf("read %d bytes", len(b))
		}
		return err
	})); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "pd-bench-files-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	local := filepath.Join(tmp, "kb")
	if err := os.WriteFile(local, kb, 0o644); err != nil {
		return err
	}
	if err := add(measure("pocketdock CLI cp (write) 1 KB", n*3, func() error {
		return exec.Command(cli, "--root", root, "cp", local, c.Name()+":/tmp/kb").Run()
	})); err != nil {
		return err
	}
	if err := add(measure("pocketdock CLI cp (read) 1 KB", n*3, func() error {
		return exec.Command(cli, "--root", root, "cp", c.Name()+":/tmp/kb", filepath.Join(tmp, "kb-back")).Run()
	})); err != nil {
		return err
	}
	big := filepath.Join(tmp, "big")
	f, err := os.Create(big)
	if err != nil {
		return err
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for i := 0; i < 100; i++ {
		f.Write(chunk)
	}
	f.Close()
	push, err := measure("pocketdock SDK Push 100 MiB file", 3, func() error {
		return c.Push(ctx, big, "/tmp/big")
	})
	if err := add(push, err); err != nil {
		return err
	}
	pull, err := measure("pocketdock SDK Pull 100 MiB file", 3, func() error {
		os.Remove(filepath.Join(tmp, "big-back"))
		return c.Pull(ctx, "/tmp/big", filepath.Join(tmp, "big-back"))
	})
	if err := add(pull, err); err != nil {
		return err
	}
	fmt.Printf("push throughput %.0f MiB/s, pull throughput %.0f MiB/s (medians)\n",
		100/push.median().Seconds(), 100/pull.median().Seconds())
	return nil
}
