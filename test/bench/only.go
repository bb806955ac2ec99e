package main

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/pocketdock/pocketdock"
)

// pssOnly prints the PSS that each of 10 idle containers adds (make bench
// BENCH_ARGS="-only pss"): the memory figure alone, for quick comparisons.
func pssOnly(ctx context.Context, opts pocketdock.Options) error {
	pss, procs, err := idlePSS(ctx, opts, 10)
	if err != nil {
		return err
	}
	fmt.Printf("%-58s %10.3f MB (%d processes per container)\n", "pocketdock PSS added per idle container", pss/1e6, procs)
	return nil
}

// runOnly prints the SDK Run("true") and CLI `run NAME -- true` latencies
// (make bench BENCH_ARGS="-only run"): n×10 and n×3 rounds on one container.
func runOnly(ctx context.Context, opts pocketdock.Options, cli, root string, n int) error {
	c, err := pocketdock.CreateNewContainer(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Shutdown(ctx, true)
	sdk, err := measure("pocketdock SDK Run(\"true\")", n*10, func() error {
		res, err := c.Run(ctx, "true")
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit %d", res.ExitCode)
		}
		return err
	})
	if err != nil {
		return err
	}
	run, err := measure("pocketdock CLI run NAME -- true", n*3, func() error {
		return exec.Command(cli, "--root", root, "run", c.Name(), "--", "true").Run()
	})
	if err != nil {
		return err
	}
	fmt.Printf("\n%-58s %10s %10s %8s\n", "measurement (ms)", "median", "p90", "runs")
	for _, r := range []result{sdk, run} {
		fmt.Printf("%-58s %10s %10s %8d\n", r.name, ms(r.median()), ms(r.p90()), len(r.samples))
	}
	return nil
}
