package netns

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// resolvePorts checks each mapping against published ports and host sockets
// and picks free host ports for HostPort 0. Errors: ErrConflict naming the
// port and its holder; ErrInvalidArgument for a host IP that is not local.
func (a *allocator) resolvePorts(ps []PortMapping) ([]PortMapping, error) {
	ps, err := NormalizePorts(ps)
	if err != nil {
		return nil, err
	}
	out := make([]PortMapping, 0, len(ps))
	taken := func(p PortMapping) *Lease {
		if l := a.portHolder(p); l != nil {
			return l
		}
		for _, q := range out {
			if q.HostPort == p.HostPort && q.Protocol == p.Protocol && ipsOverlap(q.HostIP, p.HostIP) {
				return &Lease{Name: "(this container)"}
			}
		}
		return nil
	}
	for _, p := range ps {
		if p.HostPort == 0 {
			for tries := 0; ; tries++ {
				port, err := freePort(p)
				if err != nil {
					return nil, err
				}
				p.HostPort = port
				if taken(p) == nil {
					break
				}
				if tries > 50 {
					return nil, fmt.Errorf("%w: no free host port for %s", ErrConflict, p)
				}
			}
		} else if l := taken(p); l != nil {
			return nil, fmt.Errorf("%w: host port %d/%s is already published by container %s (%s) of state root %s",
				ErrConflict, p.HostPort, p.Protocol, l.Name, short(l.ID), l.Root)
		}
		if err := hostPortFree(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// freePort asks the kernel for a free port on the mapping's host address.
func freePort(p PortMapping) (int, error) {
	addr := net.JoinHostPort(p.HostIP, "0")
	if p.Protocol == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return 0, bindErr(p, err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return 0, bindErr(p, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// hostPortFree binds the host port for a moment: a listening socket of the
// host on it is a conflict (the DNAT rule would hide it), named with its process.
func hostPortFree(p PortMapping) error {
	addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
	var err error
	if p.Protocol == "udp" {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp4", addr); err == nil {
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp4", addr); err == nil {
			l.Close()
		}
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EADDRINUSE) {
		// Only a listening (TCP) or bound (UDP) socket is a conflict; a
		// connection that happens to use the port number locally is not
		// (NAT rules apply to new connections only).
		if holder, ok := socketHolder(p); ok {
			return fmt.Errorf("%w: host port %d/%s is held by %s", ErrConflict, p.HostPort, p.Protocol, holder)
		}
		return nil
	}
	return bindErr(p, err)
}

func bindErr(p PortMapping, err error) error {
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("%w: port mapping %s: %s is not an address of this host", ErrInvalidArgument, p, p.HostIP)
	}
	return fmt.Errorf("port mapping %s: %w", p, err)
}

// socketHolder names the process holding host port p: "a listening socket of
// pid N (comm)", from /proc/net/{tcp,tcp6,udp,udp6} and /proc/*/fd; ok is
// false when no listening (TCP) or unconnected bound (UDP) socket has it.
func socketHolder(p PortMapping) (holder string, ok bool) {
	inodes := map[string]bool{}
	// thread-self: this thread's namespace (the host's), whatever other threads do.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	files := []string{"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"}
	state := "0A" // TCP_LISTEN
	if p.Protocol == "udp" {
		files = []string{"/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"}
		state = "07" // TCP_CLOSE: an unconnected (bound) UDP socket
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != state {
				continue
			}
			_, portHex, ok := strings.Cut(fs[1], ":")
			if !ok {
				continue
			}
			if port, err := strconv.ParseUint(portHex, 16, 16); err == nil && int(port) == p.HostPort {
				inodes[fs[9]] = true
			}
		}
		fh.Close()
	}
	if len(inodes) == 0 {
		return "", false
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		link, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			pid := strings.Split(fd, "/")[2]
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			return fmt.Sprintf("a listening socket of pid %s (%s)", pid, strings.TrimSpace(string(comm))), true
		}
	}
	return "a listening socket of the host", true
}
