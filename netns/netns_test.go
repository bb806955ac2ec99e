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

func TestAllocatorPicks(t *testing.T) {
	a := &allocator{}
	t.Setenv(SubnetEnv, "10.99.0.0/29") // 8 addresses: .1 gateway, .2-.6 containers, .7 broadcast
	n, err := a.subnet()
	if err != nil || n.String() != "10.99.0.0/29" || gateway(n).String() != "10.99.0.1" {
		t.Fatalf("subnet: %v %v", n, err)
	}
	var got []string
	for i := 0; i < 5; i++ {
		ip, err := a.nextIP(n)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ip.String())
		a.state.Leases = append(a.state.Leases, Lease{Root: "r", ID: ip.String(), IP: ip.String()})
	}
	if strings.Join(got, ",") != "10.99.0.2,10.99.0.3,10.99.0.4,10.99.0.5,10.99.0.6" {
		t.Fatalf("picked %v", got)
	}
	if _, err := a.nextIP(n); !errors.Is(err, ErrConflict) {
		t.Fatalf("full subnet: want ErrConflict, got %v", err)
	}
	// A released address is the next one given.
	a.remove(Tag{Root: "r", ID: "10.99.0.4"})
	if ip, err := a.nextIP(n); err != nil || ip.String() != "10.99.0.4" {
		t.Fatalf("after release: %v %v", ip, err)
	}
	// While leases exist the stored subnet wins over the environment.
	t.Setenv(SubnetEnv, "10.77.0.0/16")
	if n, _ := a.subnet(); n.String() != "10.99.0.0/29" {
		t.Fatalf("subnet changed under leases: %v", n)
	}
	for _, bad := range []string{"10.0.0.0/30", "nonsense", "fd00::/64"} {
		b := &allocator{}
		t.Setenv(SubnetEnv, bad)
		if _, err := b.subnet(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("subnet %q: want ErrInvalidArgument, got %v", bad, err)
		}
	}
}

func TestPortHolder(t *testing.T) {
	a := &allocator{state: allocState{Leases: []Lease{
		{Root: "r1", ID: "a", Name: "web", Ports: []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}},
		{Root: "r2", ID: "b", Name: "dns", Ports: []PortMapping{{HostIP: "127.0.0.1", HostPort: 53, ContainerPort: 53, Protocol: "udp"}}},
	}}}
	cases := []struct {
		p    PortMapping
		want string
	}{
		{PortMapping{HostPort: 8080, Protocol: "tcp"}, "web"},
		{PortMapping{HostIP: "127.0.0.1", HostPort: 8080, Protocol: "tcp"}, "web"},
		{PortMapping{HostPort: 8080, Protocol: "udp"}, ""},
		{PortMapping{HostPort: 53, Protocol: "udp"}, "dns"},
		{PortMapping{HostIP: "192.0.2.1", HostPort: 53, Protocol: "udp"}, ""},
	}
	for _, c := range cases {
		l := a.portHolder(c.p)
		got := ""
		if l != nil {
			got = l.Name
		}
		if got != c.want {
			t.Errorf("portHolder(%s) = %q, want %q", c.p, got, c.want)
		}
	}
}
