package netns

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// Orphan is one host-wide network object of a state root whose container is gone.
type Orphan struct {
	// ID is the container ID in the object's tag.
	ID string
	// What names the object: "veth pd…", "nftables rule …", "address 10.89.0.7".
	What string
}

// Orphans lists the links, rules and leases tagged with state root rootID
// whose container alive reports false. Another root's objects are never listed.
func Orphans(rootID string, alive func(id string) bool) ([]Orphan, error) {
	root := RootTag(rootID)
	var out []Orphan
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if t, ok := ParseTag(l.Attrs().Alias); ok && t.Root == root && !alive(t.ID) {
			out = append(out, Orphan{ID: t.ID, What: fmt.Sprintf("link %s (container %s)", l.Attrs().Name, short(t.ID))})
		}
	}
	rules, err := taggedRules()
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if r.Tag.Root == root && !alive(r.Tag.ID) {
			out = append(out, Orphan{ID: r.Tag.ID, What: r.String()})
		}
	}
	leases, err := Leases()
	if err != nil {
		return nil, err
	}
	for _, l := range leases {
		if l.Root == root && !alive(l.ID) {
			out = append(out, Orphan{ID: l.ID, What: fmt.Sprintf("address %s (container %s)", l.IP, short(l.ID))})
		}
	}
	return out, nil
}
