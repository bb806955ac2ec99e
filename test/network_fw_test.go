package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/pocketdock/pocketdock"
	"github.com/pocketdock/pocketdock/netns"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// dockerLikeFilter makes what docker makes: table ip filter with FORWARD
// (policy drop) jumping to DOCKER-USER. It skips the test when the host
// already has a table ip filter (another firewall's; never touched).
func dockerLikeFilter(t *testing.T) *nftables.Chain {
	t.Helper()
	c := &nftables.Conn{}
	tabs, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range tabs {
		if x.Name == "filter" {
			t.Skip("the host has a table ip filter of its own; this test makes docker's and must not touch another one")
		}
	}
	tab := c.AddTable(&nftables.Table{Name: "filter", Family: nftables.TableFamilyIPv4})
	t.Cleanup(func() {
		c := &nftables.Conn{}
		c.DelTable(tab)
		if err := c.Flush(); err != nil {
			t.Errorf("delete test table ip filter: %v", err)
		}
	})
	drop := nftables.ChainPolicyDrop
	fwd := c.AddChain(&nftables.Chain{Name: "FORWARD", Table: tab, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	user := c.AddChain(&nftables.Chain{Name: "DOCKER-USER", Table: tab})
	c.AddRule(&nftables.Rule{Table: tab, Chain: fwd, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: "DOCKER-USER"}}})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return user
}

func TestNetworkForwardPolicyDrop(t *testing.T) {
	needNet(t)
	ctx := context.Background()
	user := dockerLikeFilter(t)
	web := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-fw-web", Ports: map[int]int{18084: 80}})
	startHTTPD(t, web)
	client := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-fw-client", Network: "bridge"})
	// Container → host port → other container is forwarded traffic: it passes
	// docker's DROP policy through pocketdock's accepts in DOCKER-USER.
	if got := wgetIn(t, client, "http://10.89.0.1:18084/"); strings.TrimSpace(got) != page {
		t.Fatalf("hairpin through FORWARD policy drop: %q", got)
	}
	rules, err := (&nftables.Conn{}).GetRules(user.Table, user)
	if err != nil {
		t.Fatal(err)
	}
	ours := 0
	for _, r := range rules {
		if s, _ := userdata.GetString(r.UserData, userdata.TypeComment); s == "pocketdock shared" {
			ours++
		}
	}
	if ours != 3 {
		t.Fatalf("pocketdock rules in DOCKER-USER: %d, want 3", ours)
	}
	web.Destroy(ctx)
	client.Destroy(ctx)
	if leases, _ := netns.Leases(); len(leases) == 0 {
		rules, _ := (&nftables.Conn{}).GetRules(user.Table, user)
		for _, r := range rules {
			if s, _ := userdata.GetString(r.UserData, userdata.TypeComment); strings.Contains(s, "pocketdock") {
				t.Errorf("pocketdock rule left in DOCKER-USER: %q", s)
			}
		}
	}
	sharedGone(t)
}

// inNetns runs fn on a thread in the network namespace at path and returns
// that thread to the test's namespace (or lets it die if it cannot).
func inNetns(t *testing.T, path string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			goruntime.UnlockOSThread()
			done <- err
			return
		}
		defer orig.Close()
		target, err := vnetns.GetFromPath(path)
		if err != nil {
			goruntime.UnlockOSThread()
			done <- err
			return
		}
		defer target.Close()
		if err := vnetns.Set(target); err != nil {
			goruntime.UnlockOSThread()
			done <- err
			return
		}
		ferr := fn()
		if err := vnetns.Set(orig); err != nil {
			done <- fmt.Errorf("back to the test's namespace: %w (thread dropped)", err)
			return // stays locked: the thread ends with the goroutine
		}
		goruntime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// A container that sends a packet for 127.0.0.1 to the host (route_localnet
// is 1 on the bridge) must not reach a host service bound to 127.0.0.1.
func TestNetworkLoopbackGuard(t *testing.T) {
	needNet(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host-only\n"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	c := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-guard", Network: "bridge"})
	p, _ := pdrt.ResolvePaths(stateRoot)
	// In the container's namespace (a test container): route 127.0.0.1 out of
	// eth0 to the bridge, as a hostile container root with CAP_NET_ADMIN could.
	dialed := make(chan error, 1)
	err = inNetns(t, p.NetnsPath(c.ID()), func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		eth, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		if err := writeProcSys("net/ipv4/conf/eth0/route_localnet", "1"); err != nil {
			return err
		}
		if err := writeProcSys("net/ipv4/conf/all/route_localnet", "1"); err != nil {
			return err
		}
		// 127.0.0.1 must not be the container's own address, or the host's
		// answers would be dropped there as martians (and hide a leak).
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		addrs, err := h.AddrList(lo, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			a := a
			if err := h.AddrDel(lo, &a); err != nil {
				return fmt.Errorf("delete %s from lo: %w", a.IPNet, err)
			}
		}
		gw := net.ParseIP("10.89.0.1")
		if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: &net.IPNet{IP: net.IPv4(127, 0, 0, 1).To4(), Mask: net.CIDRMask(32, 32)}, Gw: gw}); err != nil {
			return fmt.Errorf("route 127.0.0.1 via the bridge: %w", err)
		}
		conn, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), 3*time.Second)
		if err == nil {
			conn.Close()
		}
		dialed <- err
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if derr := <-dialed; derr == nil {
		t.Fatal("a packet for 127.0.0.1 from a container reached the host's loopback service")
	} else {
		t.Logf("dial from the container was refused as it should be: %v", derr)
	}
}

func writeProcSys(name, v string) error {
	return writeFile("/proc/sys/"+name, v)
}

func TestNetworkCLI(t *testing.T) {
	needNet(t)
	name := "net-cli"
	out, errs, code := cli(t, "create", "--image", busyboxImage, "--pull", "never", "--name", name, "-p", "127.0.0.1:18086:80", "-p", "5300/udp", "--json")
	if code != 0 {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	t.Cleanup(func() { cli(t, "rm", name) })
	var created struct{ ID string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || len(created.ID) != 64 {
		t.Fatalf("create --json: %q %v", out, err)
	}
	out, errs, code = cli(t, "info", name, "--json")
	if code != 0 {
		t.Fatalf("info: %d %s", code, errs)
	}
	var info struct {
		Network   string `json:"network"`
		IPAddress string `json:"ip_address"`
		Ports     []struct {
			HostIP        string `json:"host_ip"`
			HostPort      int    `json:"host_port"`
			ContainerPort int    `json:"container_port"`
			Protocol      string `json:"protocol"`
		} `json:"ports"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("info --json: %v\n%s", err, out)
	}
	if info.Network != "bridge" || !strings.HasPrefix(info.IPAddress, "10.89.") || len(info.Ports) != 2 ||
		info.Ports[0].HostIP != "127.0.0.1" || info.Ports[0].HostPort != 18086 || info.Ports[1].Protocol != "udp" || info.Ports[1].HostPort == 0 {
		t.Fatalf("info --json: %s", out)
	}
	out, _, _ = cli(t, "info", name)
	if !strings.Contains(out, "127.0.0.1:18086:80/tcp") || !strings.Contains(out, "IP address:") {
		t.Fatalf("info: %s", out)
	}
	_, errs, code = cli(t, "create", "--image", busyboxImage, "--pull", "never", "-p", "80:99999")
	if code != 125 || !strings.Contains(errs, "80:99999") {
		t.Fatalf("bad -p: %d %s", code, errs)
	}
	_, errs, code = cli(t, "create", "--image", busyboxImage, "--pull", "never", "--network", "host")
	if code != 125 || !strings.Contains(errs, `"host"`) {
		t.Fatalf("bad --network: %d %s", code, errs)
	}
	// doctor lists nothing of a healthy bridged container (the shared test
	// root may hold other tests' leftovers, such as killed creates).
	out, _, code = cli(t, "doctor")
	if code != 0 || strings.Contains(out, created.ID[:12]) || strings.Contains(out, "link ") || strings.Contains(out, "nftables rule") || strings.Contains(out, "address ") {
		t.Fatalf("doctor: %d %s", code, out)
	}
}

func writeFile(path, v string) error {
	return os.WriteFile(path, []byte(v), 0o644)
}

// Stopping a persistent container releases its link, address, rules and
// namespace; the record keeps the requested ports for a later start.
func TestNetworkStopReleases(t *testing.T) {
	needNet(t)
	ctx := context.Background()
	c := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-persist", Persist: true, Ports: map[int]int{18087: 80}})
	if objs := netObjects(t, stateRoot, c.ID()); len(objs) < 4 {
		t.Fatalf("running: want link, rule, lease and netns, got %q", objs)
	}
	if err := c.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	if objs := netObjects(t, stateRoot, c.ID()); len(objs) > 0 {
		t.Fatalf("stopped: left %q", objs)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != "exited" || info.Network != "bridge" || info.IPAddress != "" || len(info.Ports) != 0 {
		t.Fatalf("stopped info: %+v", info)
	}
	// The port is free again: another container may publish it.
	d := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-after-stop", Ports: map[int]int{18087: 80}})
	if err := d.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
}

// needNet skips a bridge-network test on a kernel without nf_tables or
// bridges (a minimal VM kernel without its modules), saying which.
func needNet(t *testing.T) {
	t.Helper()
	needRoot(t)
	if _, err := (&nftables.Conn{}).ListTables(); err != nil {
		t.Skipf("the kernel has no nf_tables (%v): bridge networking needs it", err)
	}
	if _, err := os.Stat("/sys/class/net/" + netns.BridgeName); err == nil {
		return // pocketdock's bridge exists: bridges work
	}
	la := netlink.NewLinkAttrs()
	la.Name = fmt.Sprintf("pdprobe%d", os.Getpid()%100000)
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
		t.Skipf("the kernel cannot make a bridge (%v): bridge networking needs it", err)
	}
	if l, err := netlink.LinkByName(la.Name); err == nil {
		netlink.LinkDel(l)
	}
}

// Egress: a container reaches a server outside the bridge through the host,
// masqueraded to the host's address. "Outside" is a namespace this test makes
// (veth pdtout<pid> on the host, 198.51.100.1/24 ↔ 198.51.100.2/24), so no
// packet leaves the machine.
func TestNetworkEgressMasquerade(t *testing.T) {
	needNet(t)
	// The outside namespace, held by its handle (no bind mount).
	nsc := make(chan vnetns.NsHandle, 1)
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			goruntime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := vnetns.New()
		if err != nil {
			goruntime.UnlockOSThread()
			errc <- err
			return
		}
		if err := vnetns.Set(orig); err != nil {
			ns.Close()
			errc <- err
			return // stays locked: the thread ends with the goroutine
		}
		goruntime.UnlockOSThread()
		nsc <- ns
	}()
	var ns vnetns.NsHandle
	select {
	case ns = <-nsc:
	case err := <-errc:
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	la := netlink.NewLinkAttrs()
	la.Name = fmt.Sprintf("pdtout%d", os.Getpid()%100000)
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}); err != nil {
		t.Fatal(err)
	}
	host, err := netlink.LinkByName(la.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(host); err != nil {
			t.Errorf("delete %s: %v", la.Name, err)
		}
	})
	if err := netlink.AddrAdd(host, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("198.51.100.1"), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	peer, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(peer, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("198.51.100.2"), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		t.Fatal(err)
	}
	// An HTTP server in the outside namespace answers with the client's address.
	var ln net.Listener
	nsPath := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns))
	if err := inNetns(t, nsPath, func() error {
		var err error
		ln, err = net.Listen("tcp4", "198.51.100.2:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, r.RemoteAddr)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	c := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-egress", Ports: map[int]int{18088: 80}})
	got := wgetIn(t, c, fmt.Sprintf("http://198.51.100.2:%d/", port))
	if !strings.HasPrefix(got, "198.51.100.1:") {
		t.Fatalf("the outside server saw %q, want the host's address 198.51.100.1 (masquerade)", got)
	}
	// Ingress: a client outside reaches the published port on the host's address.
	startHTTPD(t, c)
	var reply string
	if err := inNetns(t, nsPath, func() error {
		conn, err := net.DialTimeout("tcp4", "198.51.100.1:18088", 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
		b, err := io.ReadAll(conn)
		reply = string(b)
		return err
	}); err != nil {
		t.Fatalf("from outside to 198.51.100.1:18088: %v", err)
	}
	if !strings.Contains(reply, page) {
		t.Fatalf("from outside to 198.51.100.1:18088: %q", reply)
	}
}
