package pocketdock

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// HostCheck is one check of CheckHost.
type HostCheck struct {
	// Name is what was checked: "root", "overlay", "cgroups", "image …".
	Name string
	// OK reports that the host has it.
	OK bool
	// Detail says what was found.
	Detail string
	// Fix says how to get it when OK is false ("" otherwise).
	Fix string
}

// CheckHost checks what pocketdock needs on this host and in state root
// root ("" = $POCKETDOCK_ROOT or the default): running as root, the
// overlay filesystem (/proc/filesystems), cgroups (v2: the memory, pids
// and cpu controllers in /sys/fs/cgroup/cgroup.controllers; v1: those
// hierarchies mounted under /sys/fs/cgroup), and the images named in
// images ("" entries skipped; none given = DefaultImage) in the local
// store (checked only as root). It changes nothing.
func CheckHost(ctx context.Context, root string, images ...string) []HostCheck {
	var out []HostCheck
	isRoot := os.Geteuid() == 0
	c := HostCheck{Name: "root", OK: isRoot, Detail: fmt.Sprintf("effective uid %d", os.Geteuid())}
	if !isRoot {
		c.Fix = "run pocketdock as root (sudo pocketdock …)"
	}
	out = append(out, c)
	out = append(out, checkOverlay(), checkCgroups())
	if len(images) == 0 {
		images = []string{DefaultImage}
	}
	for _, ref := range images {
		if ref == "" {
			continue
		}
		c := HostCheck{Name: "image " + ref}
		if !isRoot {
			c.Detail = "not checked: the image store needs root"
			c.Fix = "run as root"
			out = append(out, c)
			continue
		}
		s, err := imageStore(root)
		if err == nil {
			var img *ImageInfo
			if i, ierr := s.Image(ref); ierr == nil {
				info := imageInfo(i)
				img = &info
			} else {
				err = ierr
			}
			if img != nil {
				c.OK, c.Detail = true, "present ("+shortID(img.ID)+")"
			}
		}
		if !c.OK {
			c.Detail = fmt.Sprint(err)
			c.Fix = "pocketdock pull " + ref
			name := strings.TrimSuffix(strings.TrimPrefix(ref, "docker.io/"), ":latest")
			if name, ok := strings.CutPrefix(name, "pocketdock/"); ok {
				c.Fix = "pocketdock build " + name
				if ref == DefaultImage {
					c.Fix += ", or make fixtures && pocketdock import test/fixtures/out/minimal-python.tar"
				}
			}
		}
		out = append(out, c)
	}
	return out
}

func checkOverlay() HostCheck {
	c := HostCheck{Name: "overlay"}
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		c.Detail = err.Error()
		c.Fix = "mount /proc"
		return c
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "overlay" {
			c.OK, c.Detail = true, "overlay in /proc/filesystems"
			return c
		}
	}
	c.Detail = "overlay is not in /proc/filesystems"
	c.Fix = "modprobe overlay (kernel option CONFIG_OVERLAY_FS)"
	return c
}

func checkCgroups() HostCheck {
	c := HostCheck{Name: "cgroups"}
	want := []string{"memory", "pids", "cpu"}
	if data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		have := map[string]bool{}
		for _, f := range strings.Fields(string(data)) {
			have[f] = true
		}
		var missing []string
		for _, w := range want {
			if !have[w] {
				missing = append(missing, w)
			}
		}
		c.OK = len(missing) == 0
		c.Detail = "cgroup v2 with " + strings.TrimSpace(string(data))
		if !c.OK {
			c.Fix = "enable the " + strings.Join(missing, ", ") + " controller(s) at the cgroup root"
		}
		return c
	}
	var missing []string
	for _, w := range want {
		if fi, err := os.Stat(filepath.Join("/sys/fs/cgroup", w)); err != nil || !fi.IsDir() {
			missing = append(missing, w)
		}
	}
	c.OK = len(missing) == 0
	c.Detail = "cgroup v1 (hybrid) with " + strings.Join(want, ", ") + " mounted"
	if !c.OK {
		c.Detail = "cgroup v1: missing " + strings.Join(missing, ", ")
		c.Fix = "mount the " + strings.Join(missing, ", ") + " cgroup hierarchies (or boot with cgroup v2)"
	}
	return c
}
