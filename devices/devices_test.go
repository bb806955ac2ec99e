package devices

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// /dev/null is a character device 1:3 on every Linux host.
func TestParseForms(t *testing.T) {
	cases := []struct {
		in, ctr, perms string
	}{
		{"/dev/null", "/dev/null", "rwm"},
		{"/dev/null:rw", "/dev/null", "rw"},
		{"/dev/null:/dev/ttyUSB0", "/dev/ttyUSB0", "rwm"},
		{"/dev/null:/dev/ttyUSB0:r", "/dev/ttyUSB0", "r"},
		{"/dev/null:/dev/x/../ttyS1:mr", "/dev/ttyS1", "mr"},
	}
	for _, c := range cases {
		d, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if d.ContainerPath != c.ctr || d.Perms != c.perms || d.Node != "/dev/null" || d.Type != "c" || d.Major != 1 || d.Minor != 3 || d.HostPath != "/dev/null" {
			t.Errorf("Parse(%q) = %+v", c.in, d)
		}
	}
}

func TestParseSymlink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "usb-FTDI_serial-if00-port0")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	d, err := Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if d.Node != "/dev/null" || d.ContainerPath != link || d.HostPath != link {
		t.Fatalf("symlink: %+v (want node /dev/null, container path = host path as given)", d)
	}
	m := d.Mount()
	if m.Source != "/dev/null" || m.Destination != link || m.Type != "bind" {
		t.Fatalf("mount: %+v", m)
	}
	for _, o := range m.Options {
		if o == "nodev" {
			t.Fatalf("a device bind mount must not be nodev: %v", m.Options)
		}
	}
}

func TestParseBad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nothing"), dangling); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"/dev/does-not-exist-pd":          "does not exist",
		file:                              "regular file",
		dir:                               "directory",
		dangling:                          "does not exist",
		"dev/null":                        "absolute",
		"":                                "absolute",
		"/dev/null:/dev/x:rwx":            "rwm",
		"/dev/null:/dev/x:":               "rwm",
		"/dev/null:/dev/x:rr":             "rwm",
		"/dev/null:relative":              "absolute",
		"/dev/null:/dev/pts/3":            "/dev/pts",
		"/dev/null:/proc/x":               "/proc",
		"/dev/null:/sys":                  "/sys",
		"/dev/null:/":                     "file path",
		"/dev/null:/dev":                  "file path",
		"/dev/null:/dev/.pocketdock-init": "runtime",
		"/dev/null:/a:r:extra":            "HOST[:CONTAINER][:PERMS]",
	}
	for in, want := range cases {
		_, err := Parse(in)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Parse(%q): want ErrInvalidArgument, got %v", in, err)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(in)) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q): error %q should name the value and say %q", in, err, want)
		}
	}
	if _, err := ParseAll([]string{"/dev/null:/dev/a", "/dev/zero:/dev/a"}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "already taken") {
		t.Errorf("duplicate container path: %v", err)
	}
}

func TestApplyAndGroups(t *testing.T) {
	devs := []Device{
		{Node: "/dev/pts/7", ContainerPath: "/dev/ttyUSB0", Perms: "rw", Type: "c", Major: 136, Minor: 7, GID: 20},
		{Node: "/dev/sda", ContainerPath: "/dev/sda", Perms: "r", Type: "b", Major: 8, Minor: 0, GID: 6},
		{Node: "/dev/null", ContainerPath: "/dev/n2", Perms: "rwm", Type: "c", Major: 1, Minor: 3, GID: 0},
		{Node: "/dev/pts/8", ContainerPath: "/dev/ttyUSB1", Perms: "rw", Type: "c", Major: 136, Minor: 8, GID: 20},
	}
	s := &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}}}
	Apply(s, devs)
	if len(s.Mounts) != 4 || s.Mounts[0].Source != "/dev/pts/7" || s.Mounts[0].Destination != "/dev/ttyUSB0" {
		t.Fatalf("mounts: %+v", s.Mounts)
	}
	rules := s.Linux.Resources.Devices
	if len(rules) != 5 || rules[0].Allow {
		t.Fatalf("the deny-all rule must stay first: %+v", rules)
	}
	r := rules[2]
	if !r.Allow || r.Type != "b" || *r.Major != 8 || *r.Minor != 0 || r.Access != "r" {
		t.Fatalf("block rule: %+v", r)
	}
	if g := Groups(devs); len(g) != 2 || g[0] != 20 || g[1] != 6 {
		t.Fatalf("groups: %v (want 20, 6; never 0)", g)
	}
	if g := AddGroups([]uint32{20, 1000}, 1000, []uint32{20, 6, 1000, 99}); len(g) != 4 || g[2] != 6 || g[3] != 99 {
		t.Fatalf("AddGroups: %v", g)
	}
	if g := AddGroups(nil, 6, []uint32{6}); len(g) != 0 {
		t.Fatalf("the primary group is not added again: %v", g)
	}
}
