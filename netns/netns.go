// Package netns gives pocketdock containers their network: a network
// namespace with loopback only (mode none), or a veth pair into the shared
// bridge pocketdock0 with an address from a host-wide allocator, a default
// route, masquerade for egress and DNAT port forwards in the nftables table
// "pocketdock" (mode bridge). It also writes the container's /etc/hosts,
// /etc/hostname and /etc/resolv.conf.
//
// Host-wide objects (the bridge, the table, the allocator under
// /run/pocketdock/net) are shared by every state root. Every link, rule and
// address is tagged with the state root's ID and the container ID, so cleanup
// and doctor in one root never touch another root's objects.
//
// Links and namespaces come from vishvananda/netlink and netns, rules from
// google/nftables; no ip or nft binary is needed.
package netns

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
)

// Network modes (Options.Network; podman's words).
const (
	// ModeNone: a network namespace with loopback only.
	ModeNone = "none"
	// ModeBridge: a veth pair into the bridge pocketdock0, an address from the
	// host-wide allocator, a default route, masquerade and port forwards.
	ModeBridge = "bridge"
)

// Host-wide names and defaults (DESIGN.md, Network).
const (
	// BridgeName is the shared bridge of every state root.
	BridgeName = "pocketdock0"
	// TableName is the nftables table (family ip) holding every pocketdock rule.
	TableName = "pocketdock"
	// DefaultSubnet is the bridge's subnet: not podman's 10.88/16 nor docker's 172.17/16.
	DefaultSubnet = "10.89.0.0/16"
	// SubnetEnv overrides DefaultSubnet; it takes effect only while no
	// container of any state root holds an address (the bridge is made anew).
	SubnetEnv = "POCKETDOCK_SUBNET"
	// NetDir holds the host-wide allocator (alloc.json) and its lock file.
	NetDir = "/run/pocketdock/net"
	// aliasPrefix starts the alias of every link pocketdock makes.
	aliasPrefix = "pocketdock"
)

// Errors of this package. The runtime re-exports them through its own
// sentinels (ErrInvalidArgument, ErrConflict), so errors.Is matches both.
var (
	// ErrInvalidArgument: a bad port, protocol, address or mode.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrConflict: a host port is already published or held by a host socket,
	// or the subnet is exhausted.
	ErrConflict = errors.New("conflict")
)

// PortMapping forwards a host port to a container port. The JSON field names
// are the record's (snake_case).
type PortMapping struct {
	// HostIP is the host address the forward listens on ("" or "0.0.0.0" =
	// every address of the host, 127.0.0.1 included). IPv4 only.
	HostIP string `json:"host_ip,omitempty"`
	// HostPort is the host port, 1-65535; 0 picks a free port at create
	// (Info shows the one picked).
	HostPort int `json:"host_port"`
	// ContainerPort is the port in the container, 1-65535.
	ContainerPort int `json:"container_port"`
	// Protocol is "tcp" (the default when empty) or "udp".
	Protocol string `json:"protocol,omitempty"`
}

// String is the -p form: [IP:]HOST:CTR/PROTO.
func (p PortMapping) String() string {
	s := fmt.Sprintf("%d:%d/%s", p.HostPort, p.ContainerPort, proto(p.Protocol))
	if p.HostIP != "" {
		s = p.HostIP + ":" + s
	}
	return s
}

func proto(p string) string {
	if p == "" {
		return "tcp"
	}
	return p
}

// ValidateMode checks a network mode: "", "none" or "bridge".
func ValidateMode(mode string) error {
	switch mode {
	case "", ModeNone, ModeBridge:
		return nil
	}
	return fmt.Errorf("%w: network %q: want %q or %q", ErrInvalidArgument, mode, ModeNone, ModeBridge)
}

// NormalizePorts validates ps and returns them with defaults filled in
// (Protocol "tcp", HostIP "0.0.0.0" → ""). Errors wrap ErrInvalidArgument and
// name the bad mapping; two mappings of one host port and protocol on
// overlapping addresses are refused too.
func NormalizePorts(ps []PortMapping) ([]PortMapping, error) {
	out := make([]PortMapping, 0, len(ps))
	for _, p := range ps {
		p.Protocol = strings.ToLower(p.Protocol)
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return nil, fmt.Errorf("%w: port mapping %s: protocol %q: want tcp or udp", ErrInvalidArgument, p, p.Protocol)
		}
		if p.HostPort < 0 || p.HostPort > 65535 {
			return nil, fmt.Errorf("%w: port mapping %s: host port %d: want 1-65535 (or 0 for a free port)", ErrInvalidArgument, p, p.HostPort)
		}
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, fmt.Errorf("%w: port mapping %s: container port %d: want 1-65535", ErrInvalidArgument, p, p.ContainerPort)
		}
		if p.HostIP == "0.0.0.0" {
			p.HostIP = ""
		}
		if p.HostIP != "" {
			ip := net.ParseIP(p.HostIP)
			if ip == nil || ip.To4() == nil {
				return nil, fmt.Errorf("%w: port mapping %s: host IP %q: want an IPv4 address of this host", ErrInvalidArgument, p, p.HostIP)
			}
			p.HostIP = ip.To4().String()
		}
		for _, q := range out {
			if p.HostPort != 0 && q.HostPort == p.HostPort && q.Protocol == p.Protocol && ipsOverlap(q.HostIP, p.HostIP) {
				return nil, fmt.Errorf("%w: port mappings %s and %s publish the same host port", ErrInvalidArgument, q, p)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func ipsOverlap(a, b string) bool { return a == "" || b == "" || a == b }

var portSpecRE = regexp.MustCompile(`^(?:(?:([0-9.]*):)?([0-9]*):)?([0-9]+)(?:/([a-zA-Z]+))?$`)

// ParsePortSpec parses the CLI form [IP:][HOST:]CTR[/udp] (docker's and
// podman's -p): "8080:80", "127.0.0.1:8080:80", "127.0.0.1::80" (a free
// host port), "80" (a free host port), "53:53/udp". Errors wrap
// ErrInvalidArgument and quote the spec.
func ParsePortSpec(s string) (PortMapping, error) {
	m := portSpecRE.FindStringSubmatch(s)
	bad := func(why string) (PortMapping, error) {
		return PortMapping{}, fmt.Errorf("%w: port %q: %s; want [IP:][HOST:]CTR[/udp], e.g. 8080:80", ErrInvalidArgument, s, why)
	}
	if m == nil {
		return bad("not understood")
	}
	var p PortMapping
	p.HostIP = m[1]
	if m[2] != "" {
		if _, err := fmt.Sscan(m[2], &p.HostPort); err != nil {
			return bad("bad host port")
		}
	}
	if _, err := fmt.Sscan(m[3], &p.ContainerPort); err != nil {
		return bad("bad container port")
	}
	p.Protocol = m[4]
	ps, err := NormalizePorts([]PortMapping{p})
	if err != nil {
		return PortMapping{}, err
	}
	return ps[0], nil
}

// Tag is the label put on every host-wide object of one container: link
// aliases and nftables rule comments. Root is the state root's ID
// (runtime.Paths.ID(), shortened to "sha256:<32 hex>" when longer than 100
// bytes); ID is the container ID.
type Tag struct{ Root, ID string }

// RootTag returns the form of a state root ID stored in tags.
func RootTag(rootID string) string {
	if len(rootID) <= 100 && !strings.ContainsAny(rootID, "\n\x00") {
		return rootID
	}
	sum := sha256.Sum256([]byte(rootID))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// NewTag returns the tag of container id in the state root rootID.
func NewTag(rootID, id string) Tag { return Tag{Root: RootTag(rootID), ID: id} }

// String is the stored form: "pocketdock id=<id> root=<root>".
func (t Tag) String() string { return aliasPrefix + " id=" + t.ID + " root=" + t.Root }

// ParseTag reads a stored tag; ok is false for anything pocketdock did not write.
func ParseTag(s string) (t Tag, ok bool) {
	rest, found := strings.CutPrefix(s, aliasPrefix+" id=")
	if !found {
		return Tag{}, false
	}
	id, root, found := strings.Cut(rest, " root=")
	if !found || id == "" || root == "" {
		return Tag{}, false
	}
	return Tag{Root: root, ID: id}, true
}

// bridgeAlias marks the shared bridge as pocketdock's.
const bridgeAlias = aliasPrefix + " shared bridge"

// VethName is the host-side veth of container id: "pd" and 12 hex digits
// (IFNAMSIZ allows 15 characters).
func VethName(id string) string {
	if len(id) > 12 {
		id = id[:12]
	}
	return "pd" + id
}
