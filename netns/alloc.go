package netns

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"

	"github.com/gofrs/flock"
	"golang.org/x/sys/unix"
)

// Lease is one container's hold on host-wide network resources, kept in the
// allocator file.
type Lease struct {
	// Root is the state root tag (RootTag), ID the container ID, Name its name.
	Root string `json:"root"`
	ID   string `json:"id"`
	Name string `json:"name"`
	// IP is the container's address on the bridge.
	IP string `json:"ip"`
	// Ports are the published ports, host ports resolved.
	Ports []PortMapping `json:"ports,omitempty"`
}

// allocState is /run/pocketdock/net/alloc.json.
type allocState struct {
	// Subnet is the bridge's subnet while any lease exists.
	Subnet string `json:"subnet"`
	// Leases, one per container holding an address.
	Leases []Lease `json:"leases"`
	// ForwardWas is ip_forward's value before pocketdock set it ("" = not changed by us).
	ForwardWas string `json:"forward_was,omitempty"`
}

// allocator is the locked allocator file. Every change of host-wide network
// objects happens while it is held, so the bridge and the table are made and
// removed race-free across processes and state roots.
type allocator struct {
	lock  *flock.Flock
	state allocState
}

func allocPath() string { return filepath.Join(NetDir, "alloc.json") }

// lockAlloc takes the allocator's flock (an open file description lock, so
// goroutines exclude each other too) and reads the state.
func lockAlloc() (*allocator, error) {
	if err := os.MkdirAll(NetDir, 0o700); err != nil {
		return nil, err
	}
	f := flock.New(filepath.Join(NetDir, "lock"), flock.SetPermissions(0o600))
	if err := f.Lock(); err != nil {
		return nil, fmt.Errorf("lock network allocator: %w", err)
	}
	a := &allocator{lock: f}
	data, err := os.ReadFile(allocPath())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		f.Close()
		return nil, err
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &a.state); err != nil {
			f.Close()
			return nil, fmt.Errorf("network allocator %s: %w", allocPath(), err)
		}
	}
	return a, nil
}

func (a *allocator) unlock() {
	if a.lock != nil {
		a.lock.Close()
		a.lock = nil
	}
}

// save writes the state atomically (temp file, fsync, rename).
func (a *allocator) save() error {
	data, err := json.MarshalIndent(&a.state, "", "  ")
	if err != nil {
		return err
	}
	tmp := allocPath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, allocPath())
}

func (a *allocator) find(t Tag) int {
	for i, l := range a.state.Leases {
		if l.Root == t.Root && l.ID == t.ID {
			return i
		}
	}
	return -1
}

// remove drops t's lease; it reports whether there was one.
func (a *allocator) remove(t Tag) bool {
	i := a.find(t)
	if i < 0 {
		return false
	}
	a.state.Leases = append(a.state.Leases[:i], a.state.Leases[i+1:]...)
	return true
}

// subnet returns the subnet in use (the stored one while leases exist).
func (a *allocator) subnet() (*net.IPNet, error) {
	s := a.state.Subnet
	if s == "" || len(a.state.Leases) == 0 {
		s = os.Getenv(SubnetEnv)
		if s == "" {
			s = DefaultSubnet
		}
	}
	_, n, err := net.ParseCIDR(s)
	if err != nil || n.IP.To4() == nil {
		return nil, fmt.Errorf("%w: subnet %q (%s): want an IPv4 CIDR such as %s", ErrInvalidArgument, s, SubnetEnv, DefaultSubnet)
	}
	if ones, _ := n.Mask.Size(); ones > 29 {
		return nil, fmt.Errorf("%w: subnet %q: want a prefix of /29 or shorter", ErrInvalidArgument, s)
	}
	a.state.Subnet = n.String()
	return n, nil
}

// gateway is the bridge's address: the subnet's first host address.
func gateway(n *net.IPNet) net.IP { return addIP(n.IP.To4(), 1) }

func addIP(ip net.IP, k uint32) net.IP {
	v := binary.BigEndian.Uint32(ip.To4()) + k
	out := make(net.IP, 4)
	binary.BigEndian.PutUint32(out, v)
	return out
}

// nextIP returns the lowest free address after the gateway, below broadcast.
func (a *allocator) nextIP(n *net.IPNet) (net.IP, error) {
	used := map[string]bool{}
	for _, l := range a.state.Leases {
		used[l.IP] = true
	}
	ones, bits := n.Mask.Size()
	size := uint32(1) << uint(bits-ones)
	for k := uint32(2); k < size-1; k++ {
		ip := addIP(n.IP, k)
		if !used[ip.String()] {
			return ip, nil
		}
	}
	return nil, fmt.Errorf("%w: no free address left in %s (%d containers hold one)", ErrConflict, n, len(a.state.Leases))
}

// portHolder returns the lease that publishes host port p (same protocol,
// overlapping host address), or nil.
func (a *allocator) portHolder(p PortMapping) *Lease {
	for i := range a.state.Leases {
		for _, q := range a.state.Leases[i].Ports {
			if q.HostPort == p.HostPort && proto(q.Protocol) == proto(p.Protocol) && ipsOverlap(q.HostIP, p.HostIP) {
				return &a.state.Leases[i]
			}
		}
	}
	return nil
}

// Leases returns a copy of every lease on the host, sorted by IP (for tests and doctor).
func Leases() ([]Lease, error) {
	a, err := lockAlloc()
	if err != nil {
		return nil, err
	}
	defer a.unlock()
	out := append([]Lease(nil), a.state.Leases...)
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out, nil
}
