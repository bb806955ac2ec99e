package netns

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePortSpec(t *testing.T) {
	good := map[string]PortMapping{
		"8080:80":             {HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		"80":                  {HostPort: 0, ContainerPort: 80, Protocol: "tcp"},
		"127.0.0.1:8080:80":   {HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		"127.0.0.1::80":       {HostIP: "127.0.0.1", ContainerPort: 80, Protocol: "tcp"},
		"53:53/udp":           {HostPort: 53, ContainerPort: 53, Protocol: "udp"},
		"0.0.0.0:9000:90/TCP": {HostPort: 9000, ContainerPort: 90, Protocol: "tcp"},
	}
	for in, want := range good {
		got, err := ParsePortSpec(in)
		if err != nil || got != want {
			t.Errorf("ParsePortSpec(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "80:", ":80:", "70000:80", "80:0", "80/sctp", "::1:80:80", "1.2.3:80:80", "8080:80/udp/tcp"} {
		_, err := ParsePortSpec(in)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "") {
			t.Errorf("ParsePortSpec(%q): want ErrInvalidArgument, got %v", in, err)
		}
	}
}

func TestNormalizePortsDuplicates(t *testing.T) {
	_, err := NormalizePorts([]PortMapping{{HostPort: 80, ContainerPort: 80}, {HostIP: "127.0.0.1", HostPort: 80, ContainerPort: 81}})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "80") {
		t.Fatalf("same host port twice: %v", err)
	}
	// Same number, other protocol: fine.
	ps, err := NormalizePorts([]PortMapping{{HostPort: 53, ContainerPort: 53}, {HostPort: 53, ContainerPort: 53, Protocol: "udp"}})
	if err != nil || len(ps) != 2 || ps[0].Protocol != "tcp" {
		t.Fatalf("tcp+udp: %+v %v", ps, err)
	}
}

func TestFilterResolvConf(t *testing.T) {
	host := "# generated\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n"
	up := "nameserver 192.0.2.53\nnameserver 127.0.0.1\nnameserver 2001:db8::53\n"
	got := FilterResolvConf(host, up)
	want := "# generated\noptions edns0 trust-ad\nsearch lan\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"
	if got != want {
		t.Fatalf("only loopback: got %q want %q", got, want)
	}
	// A real nameserver stays and the upstream file is not used.
	got = FilterResolvConf("nameserver 10.0.0.1\nnameserver ::1\n", up)
	if got != "nameserver 10.0.0.1\n" {
		t.Fatalf("mixed: %q", got)
	}
	if got := FilterResolvConf("nameserver 127.0.0.53\n", ""); strings.Contains(got, "127.") {
		t.Fatalf("no upstream: %q", got)
	}
}

func TestTag(t *testing.T) {
	tag := NewTag("/tmp/some root", strings.Repeat("ab", 32))
	got, ok := ParseTag(tag.String())
	if !ok || got != tag {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	long := NewTag(strings.Repeat("/x", 200), "id")
	if !strings.HasPrefix(long.Root, "sha256:") || len(long.String()) > 200 {
		t.Fatalf("long root: %q", long.String())
	}
	for _, s := range []string{"", "pocketdock shared bridge", "pocketdock id= root=x", "other id=a root=b"} {
		if _, ok := ParseTag(s); ok {
			t.Errorf("ParseTag(%q) accepted", s)
		}
	}
	if VethName(strings.Repeat("f", 64)) != "pdffffffffffff" {
		t.Fatal(VethName(strings.Repeat("f", 64)))
	}
}

func TestHostsFile(t *testing.T) {
	if got := HostsFile("box", "box", "10.89.0.5"); !strings.Contains(got, "10.89.0.5\tbox\n") || !strings.HasPrefix(got, "127.0.0.1\tlocalhost\n") {
		t.Fatalf("bridge: %q", got)
	}
	if got := HostsFile("h", "n", ""); !strings.Contains(got, "127.0.1.1\th n\n") {
		t.Fatalf("none: %q", got)
	}
}
