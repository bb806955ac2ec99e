package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

var (
	only       = flag.String("only", "", `run one group only: "snapshot" (the snapshot and its tar baseline), "pss" (the PSS of idle containers), "run" (SDK Run("true") and CLI run)`)
	snapRounds = flag.Int("snapshot-n", 5, "rounds of the snapshot and of its tar baseline")
	debugLog   = flag.Bool("debug", false, "log at debug level (the snapshot logs how long its steps took)")
	traceFile  = flag.String("snapshot-trace", "", "write an execution trace (go tool trace) of the last snapshot round to this file")
	cpuProfile = flag.String("snapshot-cpuprofile", "", "write a CPU profile (pprof) of the timed snapshots to this file")
)

// snapshotOnly runs only snapshotBench and prints its results and ratio.
func snapshotOnly(ctx context.Context, opts pocketdock.Options, root string) error {
	if *debugLog {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}
	rs, err := snapshotBench(ctx, opts, root, *snapRounds)
	if err != nil {
		return err
	}
	fmt.Printf("\n%-58s %10s %10s %8s\n", "measurement (ms)", "median", "p90", "runs")
	for _, r := range rs {
		fmt.Printf("%-58s %10s %10s %8d\n", r.name, ms(r.median()), ms(r.p90()), len(r.samples))
	}
	fmt.Printf("snapshot / tar (medians): %.2f\n", float64(rs[0].median())/float64(rs[1].median()))
	return nil
}

// snapshotBench measures Snapshot of a container whose diff is 100 MB (100
// files of 1 MiB of random data) against `tar -cf` of the same overlay upper
// folder into a file on the same filesystem (the store's), n rounds each,
// alternating, and returns both and their CPU times. Both read a warm page
// cache: the files were just written.
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
	// What the rounds make (tar files, images) is removed after the last
	// round, not between rounds: on ext4 without a journal, creating a file
	// scans past the inodes deleted in the last minutes (recently_deleted
	// in ext4_create), so removing 100 files just before the next round
	// would make the next snapshot's 100 new files dearer than the
	// snapshot itself, while tar creates one.
	var images []string
	defer func() {
		for _, id := range images {
			pocketdock.RemoveImage(ctx, root, id)
		}
	}()
	tarRes := result{name: "tar -cf of the same upper folder (100 MB)"}
	tarCPU := result{name: "  its CPU time (user+system)"}
	snapRes := result{name: "pocketdock Snapshot of a 100 MB diff"}
	cpuRes := result{name: "  its CPU time (user+system, this process and children)"}
	// Rounds alternate (tar, snapshot, tar, …) so that both see the same
	// load on a shared machine; the first tar round warms nothing the
	// snapshot needs (the files were just written).
	// Before each timed round the data earlier rounds wrote is flushed
	// (syncfs, untimed): otherwise a round runs while the previous one's
	// 100 MB is being written back, and whatever waits for the disk (the
	// store's fsyncs of its metadata; tar has none) pays for the earlier
	// round.
	settle := func() {
		if f, err := os.Open(root); err == nil {
			unix.Syncfs(int(f.Fd()))
			f.Close()
		}
	}
	for i := 0; i < n; i++ {
		settle()
		start := time.Now()
		tarFile := filepath.Join(root, fmt.Sprintf("upper-%d.tar", i))
		defer os.Remove(tarFile)
		cmd := exec.Command("tar", "-cf", tarFile, "-C", upper, ".")
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("tar -cf: %w", err)
		}
		tarRes.samples = append(tarRes.samples, time.Since(start))
		tarCPU.samples = append(tarCPU.samples, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())

		settle()
		stop, err := startProfile(i)
		if err != nil {
			return nil, err
		}
		if *traceFile != "" && i == n-1 {
			f, err := os.Create(*traceFile)
			if err != nil {
				return nil, err
			}
			if err := trace.Start(f); err != nil {
				f.Close()
				return nil, err
			}
			prev := stop
			stop = func() { trace.Stop(); f.Close(); prev() }
		}
		cpu0 := cpuTime()
		start = time.Now()
		id, err := c.Snapshot(ctx, fmt.Sprintf("localhost/pd-bench-snap:%d", i))
		if err != nil {
			return nil, err
		}
		snapRes.samples = append(snapRes.samples, time.Since(start))
		cpuRes.samples = append(cpuRes.samples, cpuTime()-cpu0)
		stop()
		images = append(images, id)
	}
	return []result{snapRes, tarRes, cpuRes, tarCPU}, nil
}

// startProfile starts the CPU profile of snapshot round i (to
// -snapshot-cpuprofile with ".i" appended; `go tool pprof` merges several)
// and returns its stop function; without the flag it does nothing.
func startProfile(i int) (func(), error) {
	if *cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", *cpuProfile, i))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// cpuTime is the user+system CPU time of this process and its waited-for
// children so far.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}
