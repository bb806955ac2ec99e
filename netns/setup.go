package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Request is what Setup needs for one container.
type Request struct {
	// RootID is the state root's ID (runtime.Paths.ID()); ID the container ID; Name its name.
	RootID, ID, Name string
	// NetnsPath is where the namespace is bind-mounted (a file on the host,
	// below the state root's run directory); the OCI spec points at it.
	NetnsPath string
	// Ports are the mappings to publish (NormalizePorts form); host port 0 picks one.
	Ports []PortMapping
}

// Result is what Setup made.
type Result struct {
	// IP is the container's address, Gateway the bridge's; PrefixLen the subnet's.
	IP, Gateway string
	PrefixLen   int
	// Ports are the published mappings with host ports resolved.
	Ports []PortMapping
}

// Setup gives container req.ID a bridged network: a new network namespace
// bind-mounted at req.NetnsPath (loopback up), an address from the host-wide
// allocator, a veth pair (host side pd<12 hex> on the bridge, peer eth0 in the
// namespace), a default route via the bridge and DNAT rules for req.Ports.
// Everything happens under the allocator lock; on failure everything made is
// removed again. Errors: ErrConflict (a port published by another container
// or held by a host socket, naming it; no address left), ErrInvalidArgument
// (a host IP that is not this host's).
func Setup(req Request) (res *Result, err error) {
	t := NewTag(req.RootID, req.ID)
	a, err := lockAlloc()
	if err != nil {
		return nil, err
	}
	defer a.unlock()
	defer func() {
		if err != nil {
			if rerr := releaseLocked(a, t, req.NetnsPath); rerr != nil {
				err = fmt.Errorf("%w (and the rollback failed: %v)", err, rerr)
			}
		}
	}()
	if a.find(t) >= 0 {
		// A stale lease of this very container (a crash before): start clean.
		if err := releaseLocked(a, t, req.NetnsPath); err != nil {
			return nil, err
		}
	}
	subnet, err := a.subnet()
	if err != nil {
		return nil, err
	}
	ports, err := a.resolvePorts(req.Ports)
	if err != nil {
		return nil, err
	}
	ip, err := a.nextIP(subnet)
	if err != nil {
		return nil, err
	}
	ones, _ := subnet.Mask.Size()
	gw := gateway(subnet)
	res = &Result{IP: ip.String(), Gateway: gw.String(), PrefixLen: ones, Ports: ports}
	// The lease is written first, so a crash from here on leaves a trace doctor finds.
	a.state.Leases = append(a.state.Leases, Lease{Root: t.Root, ID: t.ID, Name: req.Name, IP: res.IP, Ports: ports})
	if err := a.save(); err != nil {
		return nil, err
	}
	br, err := a.ensureBridge(subnet)
	if err != nil {
		return nil, err
	}
	if err := ensureTable(subnet); err != nil {
		return nil, err
	}
	if err := ensureForwardAccepts(); err != nil {
		return nil, err
	}
	if err := createNetns(req.NetnsPath); err != nil {
		return nil, err
	}
	ns, err := vnetns.GetFromPath(req.NetnsPath)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", req.NetnsPath, err)
	}
	defer ns.Close()
	la := netlink.NewLinkAttrs()
	la.Name = VethName(req.ID)
	la.MasterIndex = br.Attrs().Index
	la.Alias = t.String() // the kernel ignores it on create; set below (see releaseLocked)
	veth := &netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("add veth %s: %w", la.Name, err)
	}
	host, err := netlink.LinkByName(la.Name)
	if err != nil {
		return nil, err
	}
	if host.Attrs().Alias != t.String() {
		if err := netlink.LinkSetAlias(host, t.String()); err != nil {
			return nil, fmt.Errorf("tag veth %s: %w", la.Name, err)
		}
	}
	// Hairpin: a container reaching its own published port through the
	// host's address gets the DNATed packet back out of the port it came in by.
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return nil, fmt.Errorf("veth %s hairpin: %w", la.Name, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return nil, fmt.Errorf("veth %s up: %w", la.Name, err)
	}
	if err := configureInside(ns, ip, ones, gw); err != nil {
		return nil, err
	}
	if err := addPortRules(t, ip, ports); err != nil {
		return nil, err
	}
	return res, nil
}

// configureInside brings up lo and eth0 in ns, with the address and the default route.
func configureInside(ns vnetns.NsHandle, ip net.IP, ones int, gw net.IP) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in the container's namespace: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	eth, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(ones, 32)}}
	if err := h.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("address %s on eth0: %w", addr, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("eth0 up: %w", err)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("default route via %s: %w", gw, err)
	}
	return nil
}

// createNetns makes a new network namespace and bind-mounts it at path. The
// unshare happens on a locked OS thread that switches back to its original
// namespace afterwards; if it cannot, the thread stays locked and the Go
// runtime ends it with the goroutine, so no other goroutine ever runs in the
// new namespace.
func createNetns(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY|unix.O_CLOEXEC, 0o400)
	if err != nil {
		return fmt.Errorf("network namespace file: %w", err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			goruntime.UnlockOSThread()
			done <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			done <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		merr := unix.Mount(src, path, "none", unix.MS_BIND, "")
		if err := vnetns.Set(orig); err != nil {
			// Stay locked: this thread dies with the goroutine.
			done <- fmt.Errorf("back to the host network namespace: %w", err)
			return
		}
		goruntime.UnlockOSThread()
		if merr != nil {
			merr = fmt.Errorf("bind-mount network namespace at %s: %w", path, merr)
		}
		done <- merr
	}()
	if err := <-done; err != nil {
		unix.Unmount(path, unix.MNT_DETACH)
		os.Remove(path)
		return err
	}
	return nil
}

// removeNetns unmounts and removes a namespace file made by createNetns (absent is fine).
func removeNetns(path string) error {
	if path == "" {
		return nil
	}
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Release removes everything Setup made for container id of state root
// rootID: its rules, its veth, its namespace file and its lease; when no
// lease of any state root is left, the shared bridge and table too. Absent
// objects are no error; objects of other containers are never touched (tags
// are checked).
func Release(rootID, id, netnsPath string) error {
	a, err := lockAlloc()
	if err != nil {
		return err
	}
	defer a.unlock()
	return releaseLocked(a, NewTag(rootID, id), netnsPath)
}

func releaseLocked(a *allocator, t Tag, netnsPath string) error {
	var errs []error
	if err := deleteRules(t); err != nil {
		errs = append(errs, err)
	}
	if l, err := netlink.LinkByName(VethName(t.ID)); err == nil {
		// Tagged with t, or untagged: a create killed between adding the veth
		// and tagging it (its lease, written first, led here).
		if lt, ok := ParseTag(l.Attrs().Alias); (ok && lt == t) || (l.Attrs().Alias == "" && l.Type() == "veth") {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("delete veth %s: %w", l.Attrs().Name, err))
			}
		}
	}
	if err := removeNetns(netnsPath); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if a.remove(t) {
		if err := a.save(); err != nil {
			return err
		}
	}
	if len(a.state.Leases) == 0 {
		return a.removeShared()
	}
	return nil
}

// ensureBridge returns the bridge, making it when missing: address = the
// subnet's gateway, up, route_localnet=1 (on the bridge only), and
// net.ipv4.ip_forward=1 (its old value kept to restore with the bridge).
func (a *allocator) ensureBridge(subnet *net.IPNet) (netlink.Link, error) {
	l, err := netlink.LinkByName(BridgeName)
	if err == nil {
		if l.Attrs().Alias == "" && l.Type() == "bridge" {
			// Ours from a create killed between adding and tagging it.
			if err := netlink.LinkSetAlias(l, bridgeAlias); err != nil {
				return nil, err
			}
		} else if l.Attrs().Alias != bridgeAlias {
			return nil, fmt.Errorf("%w: a link named %s exists that pocketdock did not make (alias %q)", ErrConflict, BridgeName, l.Attrs().Alias)
		}
	} else {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return nil, err
		}
		la := netlink.NewLinkAttrs()
		la.Name = BridgeName
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
			return nil, fmt.Errorf("add bridge %s: %w", BridgeName, err)
		}
		if l, err = netlink.LinkByName(BridgeName); err != nil {
			return nil, err
		}
		if l.Attrs().Alias != bridgeAlias {
			if err := netlink.LinkSetAlias(l, bridgeAlias); err != nil {
				netlink.LinkDel(l)
				return nil, err
			}
		}
	}
	gw := &netlink.Addr{IPNet: &net.IPNet{IP: gateway(subnet), Mask: subnet.Mask}}
	addrs, err := netlink.AddrList(l, unix.AF_INET)
	if err != nil {
		return nil, err
	}
	has := false
	for _, x := range addrs {
		if x.IPNet.String() == gw.IPNet.String() {
			has = true
		}
	}
	if !has {
		if err := netlink.AddrAdd(l, gw); err != nil {
			return nil, fmt.Errorf("address %s on %s: %w", gw, BridgeName, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, err
	}
	if err := writeSysctl("net/ipv4/conf/"+BridgeName+"/route_localnet", "1"); err != nil {
		return nil, err
	}
	if old, err := readSysctl("net/ipv4/ip_forward"); err == nil && old != "1" {
		// Saved first, so a crash in between still restores it.
		a.state.ForwardWas = old
		if err := a.save(); err != nil {
			return nil, err
		}
		if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// removeShared removes the bridge (only when it is pocketdock's and no link
// is attached to it any more) and the table, and restores ip_forward.
func (a *allocator) removeShared() error {
	var errs []error
	if l, err := netlink.LinkByName(BridgeName); err == nil && (l.Attrs().Alias == bridgeAlias || (l.Attrs().Alias == "" && l.Type() == "bridge")) {
		attached := false
		if links, err := netlink.LinkList(); err == nil {
			for _, x := range links {
				if x.Attrs().MasterIndex == l.Attrs().Index {
					attached = true
				}
			}
		}
		if !attached {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("delete bridge %s: %w", BridgeName, err))
			}
		}
	}
	if err := deleteTable(); err != nil {
		errs = append(errs, err)
	}
	if a.state.ForwardWas != "" {
		if err := writeSysctl("net/ipv4/ip_forward", a.state.ForwardWas); err != nil {
			errs = append(errs, err)
		} else {
			a.state.ForwardWas = ""
			errs = append(errs, a.save())
		}
	}
	return errors.Join(errs...)
}

func readSysctl(name string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + name)
	return strings.TrimSpace(string(b)), err
}

func writeSysctl(name, v string) error {
	if err := os.WriteFile("/proc/sys/"+name, []byte(v), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), v, err)
	}
	return nil
}
