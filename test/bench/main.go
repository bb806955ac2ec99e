// Command bench measures pocketdock against its peers in one run and prints
// median, p90 and ratios (issue "Runtime core", item 10). It is run by
// `make bench` as root after the build and the fixtures. Benchmarks report;
// no test asserts a timing.
//
// Measured: SDK lifecycle (create → Run("echo hello") → shutdown), SDK
// Run("true") on a running container, CLI `run NAME -- true`, graceful
// shutdown of an idle container, and the PSS each idle container adds (10 idle
// containers). Peers, when installed: runc and crun (`run -d` / `exec` /
// `kill` + `delete` on a bundle of the busybox fixture) and podman
// (--network none, --runtime runc, the fixture imported into a private store).
package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pocketdock/pocketdock"
)

var (
	fixtures = flag.String("fixtures", "test/fixtures/out", "folder with busybox.tar")
	cliPath  = flag.String("cli", "bin/pocketdock", "the pocketdock binary")
	rounds   = flag.Int("n", 20, "rounds of each slow measurement (fast ones run 10×)")
)

type result struct {
	name    string
	samples []time.Duration
}

func (r result) median() time.Duration { return pct(r.samples, 50) }
func (r result) p90() time.Duration    { return pct(r.samples, 90) }

func pct(s []time.Duration, p int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	i := (len(c)*p + 99) / 100
	if i > 0 {
		i--
	}
	return c[i]
}

func measure(name string, n int, f func() error) (result, error) {
	r := result{name: name}
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return r, fmt.Errorf("%s: %w", name, err)
		}
		r.samples = append(r.samples, time.Since(start))
	}
	return r, nil
}

func main() {
	pocketdock.Init()
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func run() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (run `sudo make bench`)")
	}
	ctx := context.Background()
	root, err := os.MkdirTemp("", "pd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	// Runs before the RemoveAll: unmounts the store's own bind mount.
	defer pocketdock.CloseStores()
	cli, err := filepath.Abs(*cliPath)
	if err != nil {
		return err
	}
	busybox := filepath.Join(*fixtures, "busybox.tar")
	if _, err := pocketdock.ImportImage(ctx, root, busybox, "", nil); err != nil {
		return err
	}
	opts := pocketdock.Options{Image: "pocketdock/busybox", Root: root, Pull: "never"}
	var results []result
	add := func(r result, err error) error {
		if err != nil {
			return err
		}
		results = append(results, r)
		return nil
	}
	n := *rounds

	// Warm-up: the first create installs the agent binary and warms caches.
	if c, err := pocketdock.CreateNewContainer(ctx, opts); err == nil {
		c.Shutdown(ctx, true)
	} else {
		return err
	}
	switch *only {
	case "snapshot":
		return snapshotOnly(ctx, opts, root)
	case "pss":
		return pssOnly(ctx, opts)
	case "run":
		return runOnly(ctx, opts, cli, root, n)
	case "":
	default:
		return fmt.Errorf("-only %q: want snapshot, pss or run", *only)
	}

	if err := add(measure("pocketdock SDK lifecycle (create, run echo, shutdown)", n, func() error {
		c, err := pocketdock.CreateNewContainer(ctx, opts)
		if err != nil {
			return err
		}
		if res, err := c.Run(ctx, "echo hello"); err != nil || res.Stdout != "hello\n" {
			return fmt.Errorf("run: %v %+v", err, res)
		}
		return c.Shutdown(ctx, false)
	})); err != nil {
		return err
	}

	c, err := pocketdock.CreateNewContainer(ctx, opts)
	if err != nil {
		return err
	}
	if err := add(measure("pocketdock SDK Run(\"true\")", n*10, func() error {
		res, err := c.Run(ctx, "true")
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit %d", res.ExitCode)
		}
		return err
	})); err != nil {
		return err
	}
	if err := add(measure("pocketdock CLI run NAME -- true", n*3, func() error {
		return exec.Command(cli, "--root", root, "run", c.Name(), "--", "true").Run()
	})); err != nil {
		return err
	}
	if err := benchFiles(ctx, c, cli, root, n, add); err != nil {
		return err
	}
	c.Shutdown(ctx, true)

	var shut result
	shut.name = "pocketdock graceful shutdown (idle)"
	for i := 0; i < n; i++ {
		c, err := pocketdock.CreateNewContainer(ctx, opts)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := c.Shutdown(ctx, false); err != nil {
			return err
		}
		shut.samples = append(shut.samples, time.Since(start))
	}
	results = append(results, shut)

	pss, procs, err := idlePSS(ctx, opts, 10)
	if err != nil {
		return err
	}
	snaps, err := snapshotBench(ctx, opts, root, *snapRounds)
	if err != nil {
		return err
	}
	results = append(results, snaps...)

	// Peers.
	bundle, err := makeBundle(root, busybox)
	if err != nil {
		return err
	}
	for _, rt := range []string{"crun", "runc"} {
		if _, err := exec.LookPath(rt); err != nil {
			fmt.Printf("(%s not installed: skipped)\n", rt)
			continue
		}
		rs, err := ociPeer(rt, bundle, n)
		if err != nil {
			fmt.Printf("(%s failed: %v)\n", rt, err)
			continue
		}
		results = append(results, rs...)
	}
	if _, err := exec.LookPath("podman"); err == nil {
		rs, err := podmanPeer(root, busybox, n)
		if err != nil {
			fmt.Printf("(podman failed: %v)\n", err)
		} else {
			results = append(results, rs...)
		}
	} else {
		fmt.Println("(podman not installed: skipped)")
	}

	fmt.Printf("\n%-58s %10s %10s %8s\n", "measurement (ms)", "median", "p90", "runs")
	for _, r := range results {
		fmt.Printf("%-58s %10s %10s %8d\n", r.name, ms(r.median()), ms(r.p90()), len(r.samples))
	}
	fmt.Printf("%-58s %10.3f MB (%d processes per container)\n", "pocketdock PSS added per idle container", pss/1e6, procs)
	fmt.Println("\nratios (pocketdock median / peer median; < 1 is faster):")
	find := func(prefix string) (result, bool) {
		for _, r := range results {
			if strings.HasPrefix(r.name, prefix) {
				return r, true
			}
		}
		return result{}, false
	}
	pairs := [][2]string{
		{"pocketdock SDK lifecycle", "runc lifecycle"}, {"pocketdock SDK lifecycle", "crun lifecycle"}, {"pocketdock SDK lifecycle", "podman lifecycle"},
		{"pocketdock CLI run", "runc exec"}, {"pocketdock CLI run", "crun exec"}, {"pocketdock CLI run", "podman exec"},
		{"pocketdock SDK Run", "runc exec"}, {"pocketdock SDK Run", "crun exec"},
		{"pocketdock Snapshot", "tar -cf"},
	}
	for _, p := range pairs {
		a, ok1 := find(p[0])
		b, ok2 := find(p[1])
		if ok1 && ok2 && b.median() > 0 {
			fmt.Printf("  %-32s vs %-24s %6.2f\n", p[0], p[1], float64(a.median())/float64(b.median()))
		}
	}
	return nil
}

// idlePSS starts k idle containers and returns the PSS (bytes) their processes
// add, per container, and how many processes each has.
func idlePSS(ctx context.Context, opts pocketdock.Options, k int) (float64, int, error) {
	var cs []*pocketdock.Container
	defer func() {
		for _, c := range cs {
			c.Shutdown(ctx, true)
		}
	}()
	for i := 0; i < k; i++ {
		c, err := pocketdock.CreateNewContainer(ctx, opts)
		if err != nil {
			return 0, 0, err
		}
		cs = append(cs, c)
	}
	// Idle: the agent lets go of its start-up text pages after a second.
	time.Sleep(2 * time.Second)
	var total float64
	procs := 0
	for _, c := range cs {
		pids := cgroupPids(c.ID())
		procs += len(pids)
		for _, pid := range pids {
			total += pssOf(pid)
		}
	}
	return total / float64(k), procs / k, nil
}

func cgroupPids(id string) []int {
	for _, f := range []string{"/sys/fs/cgroup/pids/pocketdock/" + id + "/cgroup.procs", "/sys/fs/cgroup/pocketdock/" + id + "/cgroup.procs"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var pids []int
		for _, l := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(l); err == nil {
				pids = append(pids, n)
			}
		}
		return pids
	}
	return nil
}

// pssOf returns the PSS of pid in bytes, from /proc/PID/smaps_rollup.
func pssOf(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "Pss:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}

// makeBundle unpacks the busybox fixture's layer into an OCI bundle whose
// process is `sleep 1000000`, for the runc and crun peers.
func makeBundle(root, archive string) (string, error) {
	bundle := filepath.Join(root, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return "", err
	}
	f, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		if strings.HasSuffix(h.Name, ".tar") && h.Name != "manifest.json" {
			if err := untar(tar.NewReader(tr), rootfs); err != nil {
				return "", err
			}
		}
	}
	spec := exec.Command("runc", "spec", "-b", bundle)
	if _, err := exec.LookPath("runc"); err != nil {
		spec = exec.Command("crun", "spec", "-b", bundle)
	}
	if out, err := spec.CombinedOutput(); err != nil {
		return "", fmt.Errorf("spec: %v %s", err, out)
	}
	cfgPath := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return "", err
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", err
	}
	proc := cfg["process"].(map[string]any)
	proc["args"] = []string{"sleep", "1000000"}
	proc["terminal"] = false
	// Root here lacks CAP_SYS_RESOURCE: no rlimit above the host's (DESIGN.md).
	delete(proc, "rlimits")
	out, _ := json.MarshalIndent(cfg, "", " ")
	return bundle, os.WriteFile(cfgPath, out, 0o644)
}

func untar(tr *tar.Reader, dst string) error {
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dst, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, os.FileMode(h.Mode)&0o7777)
		case tar.TypeSymlink:
			os.Symlink(h.Linkname, p)
		case tar.TypeLink:
			os.Link(filepath.Join(dst, filepath.Clean("/"+h.Linkname)), p)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o7777)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, tr)
			w.Close()
			if err != nil {
				return err
			}
		}
	}
}

// ociPeer measures an OCI runtime on the bundle: lifecycle (run -d, exec echo,
// kill, delete) and exec of true in a running container.
func ociPeer(rt, bundle string, n int) ([]result, error) {
	state, err := os.MkdirTemp("", "pd-bench-"+rt+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(state)
	rtc := func(args ...string) error {
		cmd := exec.Command(rt, append([]string{"--root", state}, args...)...)
		// A detached container inherits run's stdio: with a pipe there,
		// waiting for EOF would never end, so output goes to a file.
		errf, err := os.CreateTemp(state, "out-")
		if err != nil {
			return err
		}
		defer os.Remove(errf.Name())
		defer errf.Close()
		cmd.Stdout, cmd.Stderr = errf, errf
		if err := cmd.Run(); err != nil {
			out, _ := os.ReadFile(errf.Name())
			return fmt.Errorf("%s %v: %v: %s", rt, args, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	i := 0
	life, err := measure(rt+" lifecycle (run -d, exec echo, kill, delete)", n, func() error {
		i++
		id := fmt.Sprintf("pdb-%s-%d", rt, i)
		if err := rtc("run", "-d", "-b", bundle, id); err != nil {
			return err
		}
		defer rtc("delete", "-f", id)
		if err := rtc("exec", id, "echo", "hello"); err != nil {
			return err
		}
		return rtc("delete", "-f", id)
	})
	if err != nil {
		return nil, err
	}
	id := "pdb-" + rt + "-exec"
	if err := rtc("run", "-d", "-b", bundle, id); err != nil {
		return nil, err
	}
	defer rtc("delete", "-f", id)
	ex, err := measure(rt+" exec true", n*3, func() error { return rtc("exec", id, "true") })
	if err != nil {
		return nil, err
	}
	return []result{life, ex}, nil
}

// podmanPeer measures podman with a private store, --network none and runc
// (crun refuses this hybrid cgroup layout), with ulimits that fit root's hard
// limits here (DESIGN.md, peers).
func podmanPeer(root, archive string, n int) ([]result, error) {
	dir := filepath.Join(root, "podman")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n"), 0o644); err != nil {
		return nil, err
	}
	base := []string{"--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run"), "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "none"}
	pm := func(args ...string) (string, error) {
		cmd := exec.Command("podman", append(append([]string{}, base...), args...)...)
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("podman %v: %v: %s", args, err, out)
		}
		return string(out), nil
	}
	// podman's cgroupfs manager makes libpod_parent in every hierarchy; remove
	// the ones this run made (rmdir only succeeds on empty cgroups).
	preexisting := map[string]bool{}
	before, _ := filepath.Glob("/sys/fs/cgroup/*/libpod_parent")
	for _, d := range before {
		preexisting[d] = true
	}
	defer func() {
		pm("rm", "-af", "-t", "0")
		pm("system", "reset", "-f")
		exec.Command("umount", "-R", filepath.Join(dir, "storage", "overlay")).Run()
		after, _ := filepath.Glob("/sys/fs/cgroup/*/libpod_parent")
		for _, d := range after {
			if !preexisting[d] {
				removeCgroupTree(d)
			}
		}
	}()
	if _, err := pm("load", "-i", archive); err != nil {
		return nil, err
	}
	ids, err := pm("images", "-q", "--no-trunc")
	if err != nil {
		return nil, err
	}
	img := strings.TrimPrefix(strings.TrimSpace(strings.Split(strings.TrimSpace(ids), "\n")[0]), "sha256:")
	i := 0
	life, err := measure("podman lifecycle (run -d, exec echo, rm -f)", n, func() error {
		i++
		name := fmt.Sprintf("pdb-podman-%d", i)
		if _, err := pm("run", "-d", "--pull", "never", "--network", "none", "--name", name, img, "sleep", "1000000"); err != nil {
			return err
		}
		if _, err := pm("exec", name, "echo", "hello"); err != nil {
			return err
		}
		_, err := pm("rm", "-f", "-t", "0", name)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, err := pm("run", "-d", "--pull", "never", "--network", "none", "--name", "pdb-podman-exec", img, "sleep", "1000000"); err != nil {
		return nil, err
	}
	ex, err := measure("podman exec true", n*3, func() error { _, err := pm("exec", "pdb-podman-exec", "true"); return err })
	if err != nil {
		return nil, err
	}
	return []result{life, ex}, nil
}

// removeCgroupTree removes an empty cgroup and its empty children, deepest first.
func removeCgroupTree(dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i])
	}
}
