package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"

	"github.com/pocketdock/pocketdock"
	"github.com/pocketdock/pocketdock/netns"
	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// Network tests send traffic only to 127.0.0.1 on the host and to addresses
// of containers these tests made.

const page = "hello from pocketdock httpd"

// startHTTPD serves page on port 80 in c (busybox httpd daemonizes).
func startHTTPD(t *testing.T, c *pocketdock.Container) {
	t.Helper()
	res, err := c.Run(context.Background(), "mkdir -p /www && echo '"+page+"' > /www/index.html && httpd -p 80 -h /www")
	if err != nil || !res.OK() {
		t.Fatalf("start httpd: %+v %v", res, err)
	}
}

// httpGet fetches url from the host, retrying for a few seconds while the
// server comes up; it returns the body or the last error.
func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 3 * time.Second}
	var last error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(url)
		if err != nil {
			last = err
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(body), err
	}
	return "", last
}

// wgetIn fetches url from inside c with busybox wget (wrapped in timeout:
// Debian's busybox-static wget -T crashes).
func wgetIn(t *testing.T, c *pocketdock.Container, url string) string {
	t.Helper()
	res, err := c.Run(context.Background(), "for i in 1 2 3 4 5; do timeout 3 wget -qO- "+url+" && exit 0; sleep 0.5; done; exit 1")
	if err != nil {
		t.Fatalf("wget %s: %v", url, err)
	}
	if !res.OK() {
		t.Fatalf("wget %s in %s: %+v", url, c.Name(), res)
	}
	return res.Stdout
}

// netObjects lists the host-wide network objects tagged with container id:
// links, nftables rules, allocator leases and its namespace file.
func netObjects(t *testing.T, root, id string) []string {
	t.Helper()
	var out []string
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if tag, ok := netns.ParseTag(l.Attrs().Alias); ok && tag.ID == id {
			out = append(out, "link "+l.Attrs().Name)
		}
		if strings.HasPrefix(l.Attrs().Name, netns.VethName(id)) {
			out = append(out, "link-by-name "+l.Attrs().Name)
		}
	}
	for _, r := range pocketdockRules(t) {
		if strings.Contains(r, id) {
			out = append(out, "rule "+r)
		}
	}
	leases, err := netns.Leases()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		if l.ID == id {
			out = append(out, "lease "+l.IP)
		}
	}
	p, _ := pdrt.ResolvePaths(root)
	if _, err := os.Stat(p.NetnsPath(id)); err == nil {
		out = append(out, "netns "+p.NetnsPath(id))
	}
	return out
}

// pocketdockRules returns the comments of every rule in table ip pocketdock
// and of pocketdock's rules in docker's filter chains.
func pocketdockRules(t *testing.T) []string {
	t.Helper()
	c := &nftables.Conn{}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ch := range chains {
		if ch.Table.Name != netns.TableName && ch.Table.Name != "filter" {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			continue
		}
		for _, r := range rules {
			s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			if ch.Table.Name == netns.TableName || strings.Contains(s, "pocketdock") {
				out = append(out, ch.Table.Name+"/"+ch.Name+": "+s)
			}
		}
	}
	return out
}

// sharedGone checks that the bridge and the table are gone once no lease of
// any state root is left (other roots on this host may still hold some).
func sharedGone(t *testing.T) {
	t.Helper()
	leases, err := netns.Leases()
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) > 0 {
		t.Logf("%d lease(s) of other containers on this host; bridge and table stay", len(leases))
		return
	}
	if _, err := netlink.LinkByName(netns.BridgeName); err == nil {
		t.Errorf("bridge %s still there with no container", netns.BridgeName)
	}
	if ok, err := netns.TableExists(); err != nil || ok {
		t.Errorf("table %s still there with no container (%v)", netns.TableName, err)
	}
	if rs := pocketdockRules(t); len(rs) > 0 {
		t.Errorf("rules left: %q", rs)
	}
}

func TestNetworkBridgePorts(t *testing.T) {
	needNet(t)
	ctx := context.Background()
	web := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-web", Ports: map[int]int{18080: 80}})
	webID := web.ID()
	startHTTPD(t, web)
	info, err := web.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Network != "bridge" || net.ParseIP(info.IPAddress) == nil || !strings.HasPrefix(info.IPAddress, "10.89.") {
		t.Fatalf("info network: %q %q", info.Network, info.IPAddress)
	}
	if len(info.Ports) != 1 || info.Ports[0].HostPort != 18080 || info.Ports[0].ContainerPort != 80 || info.Ports[0].Protocol != "tcp" {
		t.Fatalf("info ports: %+v", info.Ports)
	}
	// The host reaches the forward on 127.0.0.1, and the container's own address.
	if body, err := httpGet("http://127.0.0.1:18080/"); err != nil || strings.TrimSpace(body) != page {
		t.Fatalf("GET 127.0.0.1:18080: %q %v", body, err)
	}
	if body, err := httpGet("http://10.89.0.1:18080/"); err != nil || strings.TrimSpace(body) != page {
		t.Fatalf("GET 10.89.0.1:18080 (the host's address on the bridge): %q %v", body, err)
	}
	if body, err := httpGet("http://" + info.IPAddress + ":80/"); err != nil || strings.TrimSpace(body) != page {
		t.Fatalf("GET %s:80: %q %v", info.IPAddress, body, err)
	}
	// Inside: eth0 with the address, a default route, hosts/hostname/resolv.conf.
	res, err := web.Run(ctx, "cat /sys/class/net/eth0/operstate; ip -4 -o addr show eth0; ip route; cat /etc/hostname; grep -c net-web /etc/hosts; grep -c '^nameserver 127\\.' /etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"up\n", "inet " + info.IPAddress + "/16", "default via 10.89.0.1 dev eth0", "net-web\n1\n0\n"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("inside: want %q in %q", want, res.Stdout)
		}
	}
	// A second container reaches the first through the gateway and the host
	// port (hairpin), and directly; the first reaches its own forward too.
	client := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-client", Network: "bridge"}) // no ports
	if got := wgetIn(t, client, "http://10.89.0.1:18080/"); strings.TrimSpace(got) != page {
		t.Fatalf("hairpin from second container: %q", got)
	}
	if got := wgetIn(t, client, "http://"+info.IPAddress+"/"); strings.TrimSpace(got) != page {
		t.Fatalf("direct from second container: %q", got)
	}
	if got := wgetIn(t, web, "http://10.89.0.1:18080/"); strings.TrimSpace(got) != page {
		t.Fatalf("hairpin to itself: %q", got)
	}
	// Tags: the veth alias and the rule comment name this root and the container.
	objs := netObjects(t, stateRoot, webID)
	joined := strings.Join(objs, "\n")
	for _, want := range []string{"link " + netns.VethName(webID), "rule pocketdock/ports", "lease " + info.IPAddress, "netns "} {
		if !strings.Contains(joined, want) {
			t.Errorf("tagged objects of web: want %q in %q", want, objs)
		}
	}
	if !strings.Contains(joined, "root="+stateRoot) {
		t.Errorf("rules not tagged with the state root: %q", objs)
	}
	// Destroy: nothing of web is left, the other container keeps working.
	if err := web.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if left := netObjects(t, stateRoot, webID); len(left) > 0 {
		t.Fatalf("left after destroy: %q", left)
	}
	if left := leftOf(t, webID); len(left) > 0 {
		t.Fatalf("left after destroy: %q", left)
	}
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://127.0.0.1:18080/"); err == nil {
		resp.Body.Close()
		t.Fatal("the forward still answers after destroy")
	}
	clientID := client.ID()
	if err := client.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	if left := netObjects(t, stateRoot, clientID); len(left) > 0 {
		t.Fatalf("left after shutdown: %q", left)
	}
	sharedGone(t)
}

func TestNetworkNone(t *testing.T) {
	ctx := context.Background()
	before, _ := netlink.LinkList()
	c := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-none"})
	res, err := c.Run(ctx, "ls /sys/class/net; cat /etc/hostname; grep net-none /etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "lo\nnet-none\n127.0.1.1\tnet-none\n" {
		t.Fatalf("inside a none container: %q", res.Stdout)
	}
	res, _ = c.Run(ctx, "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags")
	if !strings.Contains(res.Stdout, "0x9") { // IFF_UP|IFF_LOOPBACK
		t.Errorf("lo not up: %q", res.Stdout)
	}
	after, _ := netlink.LinkList()
	if len(after) != len(before) {
		t.Errorf("links on the host changed: %d before, %d after", len(before), len(after))
	}
	if objs := netObjects(t, stateRoot, c.ID()); len(objs) > 0 {
		t.Errorf("a none container has host network objects: %q", objs)
	}
	info, err := c.Info(ctx)
	if err != nil || info.Network != "none" || info.IPAddress != "" || len(info.Ports) != 0 {
		t.Fatalf("info: %+v %v", info, err)
	}
	// Ports with network none are refused; bad modes and ports name the value.
	for _, o := range []pocketdock.Options{
		{Network: "none", Ports: map[int]int{18090: 80}},
		{Network: "host"},
		{PortMappings: []pocketdock.PortMapping{{HostPort: 70000, ContainerPort: 80}}},
		{PortMappings: []pocketdock.PortMapping{{HostPort: 1, ContainerPort: 80, Protocol: "sctp"}}},
		{PortMappings: []pocketdock.PortMapping{{HostIP: "192.0.2.77", HostPort: 18091, ContainerPort: 80}}},
	} {
		o.Image, o.Root, o.Pull = busyboxImage, stateRoot, "never"
		b := hostState(t)
		_, err := pocketdock.CreateNewContainer(ctx, o)
		if !errors.Is(err, pocketdock.ErrInvalidArgument) {
			t.Errorf("create %+v: want ErrInvalidArgument, got %v", o, err)
		}
		if d := diffState(b, hostState(t)); len(d) > 0 {
			t.Errorf("create %+v left %q", o, d)
		}
	}
}

func TestNetworkPortConflicts(t *testing.T) {
	needNet(t)
	ctx := context.Background()
	first := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-first", Ports: map[int]int{18081: 80}})
	startHTTPD(t, first)
	before := hostState(t)
	leasesBefore, _ := netns.Leases()
	_, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: stateRoot, Pull: "never", Name: "net-second",
		PortMappings: []pocketdock.PortMapping{{HostPort: 18082, ContainerPort: 80}, {HostPort: 18081, ContainerPort: 8080}}})
	if !errors.Is(err, pocketdock.ErrConflict) || !strings.Contains(err.Error(), "18081") || !strings.Contains(err.Error(), "net-first") {
		t.Fatalf("second publish of 18081: want ErrConflict naming the port and net-first, got %v", err)
	}
	if d := diffState(before, hostState(t)); len(d) > 0 {
		t.Fatalf("failed create left %q", d)
	}
	if leases, _ := netns.Leases(); len(leases) != len(leasesBefore) {
		t.Fatalf("failed create left a lease: %+v", leases)
	}
	if body, err := httpGet("http://127.0.0.1:18081/"); err != nil || strings.TrimSpace(body) != page {
		t.Fatalf("first container after the conflict: %q %v", body, err)
	}
	// A port held by a listening socket of the host (this test process).
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	_, err = pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: stateRoot, Pull: "never", Ports: map[int]int{port: 80}})
	if !errors.Is(err, pocketdock.ErrConflict) || !strings.Contains(err.Error(), strconv.Itoa(port)) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("port held by a host socket: want ErrConflict naming port %d and pid %d, got %v", port, os.Getpid(), err)
	}
	if d := diffState(before, hostState(t)); len(d) > 0 {
		t.Fatalf("failed create left %q", d)
	}
	// Host port 0 picks a free port; info shows it and it forwards (UDP too).
	auto := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "net-auto",
		PortMappings: []pocketdock.PortMapping{{HostIP: "127.0.0.1", ContainerPort: 80}, {ContainerPort: 5353, Protocol: "udp"}}})
	startHTTPD(t, auto)
	info, err := auto.Info(ctx)
	if err != nil || len(info.Ports) != 2 || info.Ports[0].HostPort == 0 || info.Ports[1].HostPort == 0 || info.Ports[1].Protocol != "udp" {
		t.Fatalf("picked ports: %+v %v", info.Ports, err)
	}
	if body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", info.Ports[0].HostPort)); err != nil || strings.TrimSpace(body) != page {
		t.Fatalf("picked port: %q %v", body, err)
	}
	// UDP: a Python socket listens in a container for a few seconds while the
	// host sends datagrams to 127.0.0.1 and the picked port (busybox nc has no -u).
	udp := newContainer(t, pocketdock.Options{Image: pythonImage, Name: "net-udp",
		PortMappings: []pocketdock.PortMapping{{ContainerPort: 5353, Protocol: "udp"}}})
	if info, err = udp.Info(ctx); err != nil || len(info.Ports) != 1 || info.Ports[0].HostPort == 0 {
		t.Fatalf("udp info: %+v %v", info, err)
	}
	type result struct {
		res pocketdock.ExecResult
		err error
	}
	got := make(chan result, 1)
	go func() {
		res, err := udp.Run(ctx, "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 5353))\ns.settimeout(8)\nprint(s.recvfrom(100)[0].decode(), end='')", pocketdock.WithLang("python"))
		got <- result{res, err}
	}()
	conn, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", info.Ports[0].HostPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var r result
wait:
	for {
		conn.Write([]byte("ping-udp\n"))
		select {
		case r = <-got:
			break wait
		case <-time.After(200 * time.Millisecond):
		}
	}
	if r.err != nil || !strings.Contains(r.res.Stdout, "ping-udp") {
		t.Fatalf("UDP forward: container got %+v %v", r.res, r.err)
	}
}

// newRoot makes a separate state root with the busybox fixture, removed at the end.
func newRoot(t *testing.T) string {
	t.Helper()
	needRoot(t)
	dir, err := os.MkdirTemp("", "pd-it-net-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupRoot(dir) })
	if _, err := pocketdock.ImportImage(context.Background(), dir, filepath.Join(repoRoot(), "test", "fixtures", "out", "busybox.tar"), "", nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestNetworkConcurrentCreates(t *testing.T) {
	needNet(t)
	ctx := context.Background()
	roots := []string{stateRoot, newRoot(t), newRoot(t), newRoot(t)}
	const n = 20
	var (
		mu   sync.Mutex
		cs   []*pocketdock.Container
		errs []error
		wg   sync.WaitGroup
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			root, name := roots[i%len(roots)], fmt.Sprintf("net-par-%d", i)
			var c *pocketdock.Container
			var err error
			if i%2 == 0 {
				// In this process...
				c, err = pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: root, Pull: "never",
					Name: name, Network: "bridge", PortMappings: []pocketdock.PortMapping{{ContainerPort: 80}}})
			} else {
				// ...and in CLI processes of their own.
				out, cerr := exec.Command(cliBin, "--root", root, "create", "--image", busyboxImage, "--pull", "never",
					"--name", name, "--network", "bridge", "-p", "80").CombinedOutput()
				if cerr != nil {
					err = fmt.Errorf("CLI create %s: %v: %s", name, cerr, out)
				} else {
					c, err = pocketdock.GetContainerIn(ctx, root, name)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			cs = append(cs, c)
		}(i)
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range cs {
			c.Destroy(ctx)
		}
	})
	if len(errs) > 0 {
		t.Fatalf("%d of %d creates failed: %v", len(errs), n, errs)
	}
	ips := map[string]string{}
	ports := map[int]string{}
	for _, c := range cs {
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := ips[info.IPAddress]; dup || info.IPAddress == "" {
			t.Fatalf("address %q of %s also given to %s", info.IPAddress, c.Name(), other)
		}
		ips[info.IPAddress] = c.Name()
		if other, dup := ports[info.Ports[0].HostPort]; dup {
			t.Fatalf("host port %d of %s also given to %s", info.Ports[0].HostPort, c.Name(), other)
		}
		ports[info.Ports[0].HostPort] = c.Name()
		// The address is really on eth0 in the container.
		res, err := c.Run(ctx, "ip -4 -o addr show eth0")
		if err != nil || !strings.Contains(res.Stdout, " "+info.IPAddress+"/") {
			t.Fatalf("%s: eth0 %q, want %s (%v)", c.Name(), res.Stdout, info.IPAddress, err)
		}
	}
	// Shut them all down at once: nothing of them stays.
	var ids []struct{ root, id string }
	for _, c := range cs {
		ids = append(ids, struct{ root, id string }{c.Root(), c.ID()})
	}
	var swg sync.WaitGroup
	serrs := make(chan error, n)
	for _, c := range cs {
		swg.Add(1)
		go func(c *pocketdock.Container) {
			defer swg.Done()
			serrs <- c.Shutdown(ctx, true)
		}(c)
	}
	swg.Wait()
	close(serrs)
	for err := range serrs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, x := range ids {
		if left := netObjects(t, x.root, x.id); len(left) > 0 {
			t.Errorf("left of %s: %q", x.id[:12], left)
		}
	}
	sharedGone(t)
}

// rootNetObjects lists every link, rule and lease tagged with state root
// root, and its namespace files; for stateRoot also its containers' host
// veths that are not tagged yet (ownUntaggedVeths).
func rootNetObjects(t *testing.T, root string) []string {
	t.Helper()
	tag := netns.RootTag(root)
	var out []string
	links, _ := netlink.LinkList()
	for _, l := range links {
		if x, ok := netns.ParseTag(l.Attrs().Alias); ok && x.Root == tag {
			out = append(out, "link "+l.Attrs().Name)
		}
	}
	if root == stateRoot {
		out = append(out, ownUntaggedVeths()...)
	}
	for _, r := range pocketdockRules(t) {
		if strings.HasSuffix(r, "root="+tag) {
			out = append(out, "rule "+r)
		}
	}
	leases, _ := netns.Leases()
	for _, l := range leases {
		if l.Root == tag {
			out = append(out, "lease "+l.IP+" "+l.ID)
		}
	}
	p, _ := pdrt.ResolvePaths(root)
	files, _ := os.ReadDir(filepath.Join(p.Run, "netns"))
	for _, f := range files {
		out = append(out, "netns "+f.Name())
	}
	return out
}

func TestNetworkCreateKilledThenDoctor(t *testing.T) {
	needNet(t)
	ctx := context.Background()
	// Another state root's live container must survive this root's doctor --fix.
	other := newRoot(t)
	oc, err := pocketdock.CreateNewContainer(ctx, pocketdock.Options{Image: busyboxImage, Root: other, Pull: "never", Ports: map[int]int{18083: 80}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { oc.Destroy(ctx) })
	otherBefore := rootNetObjects(t, other)

	before := hostState(t)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	// How long a create takes here, to spread the kills over it.
	start := time.Now()
	out, errs, code := cli(t, "create", "--image", busyboxImage, "--pull", "never", "--name", "net-kill-probe", "-p", "80")
	if code != 0 {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	span := time.Since(start)
	cli(t, "rm", "net-kill-probe")
	for i := 0; i < 20; i++ {
		cmd := exec.Command(cliBin, "--root", stateRoot, "create", "--image", busyboxImage, "--pull", "never",
			"--name", fmt.Sprintf("net-kill-%d", i), "-p", "80", "--network", "bridge")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int63n(int64(span) + 1)))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	out, errs, code = cli(t, "doctor", "--fix")
	t.Logf("doctor --fix:\n%s%s", out, errs)
	if code != 0 {
		t.Fatalf("doctor --fix: exit %d: %s %s", code, out, errs)
	}
	// Creates that finished before the kill are healthy containers: remove them.
	list, err := pocketdock.ListContainersIn(ctx, stateRoot, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if strings.HasPrefix(c.Name, "net-kill-") {
			if c.Status == "creating" {
				t.Errorf("%s still creating after doctor --fix", c.Name)
			}
			if _, errs, code := cli(t, "rm", c.Name); code != 0 {
				t.Errorf("rm %s: %s", c.Name, errs)
			}
		}
	}
	if d := diffState(before, hostState(t)); len(d) > 0 {
		t.Errorf("left after doctor --fix: %q", d)
	}
	if left := rootNetObjects(t, stateRoot); len(left) > 0 {
		t.Errorf("network objects of this root left: %q", left)
	}
	out, _, _ = cli(t, "doctor")
	if !strings.Contains(out, " 0 orphan(s)") {
		t.Errorf("doctor after fix: %q", out)
	}
	// The other root's container and its objects are untouched and it still forwards.
	if after := rootNetObjects(t, other); strings.Join(after, ",") != strings.Join(otherBefore, ",") {
		t.Errorf("other root's objects changed: before %q after %q", otherBefore, after)
	}
	startHTTPD(t, oc)
	if body, err := httpGet("http://127.0.0.1:18083/"); err != nil || strings.TrimSpace(body) != page {
		t.Errorf("other root's forward: %q %v", body, err)
	}
}
