package netns

import (
	"net"
	"os"
	"strings"
)

// HostsFile is the container's /etc/hosts: localhost, and the hostname (and
// the name, when it differs) on the container's address, or on 127.0.1.1
// when it has none (mode none).
func HostsFile(hostname, name, ip string) string {
	names := hostname
	if name != "" && name != hostname {
		names += " " + name
	}
	if ip == "" {
		ip = "127.0.1.1"
	}
	return "127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		ip + "\t" + names + "\n"
}

// HostnameFile is the container's /etc/hostname.
func HostnameFile(hostname string) string { return hostname + "\n" }

// SystemdResolvConf is systemd-resolved's list of the real upstream servers.
const SystemdResolvConf = "/run/systemd/resolve/resolv.conf"

// ResolvConf returns the container's /etc/resolv.conf: the host's
// /etc/resolv.conf without loopback nameservers (they mean nothing in the
// container's namespace); when only loopback ones were there (systemd-resolved's
// 127.0.0.53), the nameservers of SystemdResolvConf instead.
func ResolvConf() string {
	host, _ := os.ReadFile("/etc/resolv.conf")
	upstream, _ := os.ReadFile(SystemdResolvConf)
	return FilterResolvConf(string(host), string(upstream))
}

// FilterResolvConf is ResolvConf on given file contents (host = /etc/resolv.conf,
// upstream = systemd-resolved's file, "" when absent).
func FilterResolvConf(host, upstream string) string {
	kept, servers, dropped := filterNameservers(host)
	if servers == 0 && dropped > 0 {
		var up []string
		for _, l := range strings.Split(upstream, "\n") {
			if ip, ok := nameserver(l); ok && !ip.IsLoopback() {
				up = append(up, strings.TrimSpace(l))
			}
		}
		kept = append(kept, up...)
	}
	out := strings.Join(kept, "\n")
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out
}

func filterNameservers(s string) (kept []string, servers, dropped int) {
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if ip, ok := nameserver(l); ok {
			if ip.IsLoopback() {
				dropped++
				continue
			}
			servers++
		}
		if l != "" || len(kept) > 0 {
			kept = append(kept, l)
		}
	}
	return kept, servers, dropped
}

// nameserver parses a "nameserver ADDR" line.
func nameserver(l string) (net.IP, bool) {
	f := strings.Fields(l)
	if len(f) < 2 || f[0] != "nameserver" {
		return nil, false
	}
	addr, _, _ := strings.Cut(f[1], "%") // fe80::1%eth0
	ip := net.ParseIP(addr)
	return ip, ip != nil
}
