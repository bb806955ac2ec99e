package pocketdock

import (
	"sort"

	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// PortMapping forwards a host port to a container port: HostIP ("" = every
// host address, 127.0.0.1 included; IPv4), HostPort (1-65535, 0 = a free port
// picked at create), ContainerPort (1-65535), Protocol ("tcp", the default, or
// "udp"). Bad values are ErrInvalidArgument; a host port already published or
// held by a listening host socket is ErrConflict naming the port and holder.
type PortMapping = pdrt.PortMapping

// Network modes for Options.Network (podman's words).
const (
	// NetworkNone: a network namespace with loopback only.
	NetworkNone = pdrt.NetworkNone
	// NetworkBridge: a veth into the bridge pocketdock0 (10.89.0.0/16), a
	// default route, masquerade for egress and port forwards.
	NetworkBridge = pdrt.NetworkBridge
)

// portMappings merges Ports (sorted by host port, TCP) and PortMappings.
func (o Options) portMappings() []PortMapping {
	var out []PortMapping
	hosts := make([]int, 0, len(o.Ports))
	for h := range o.Ports {
		hosts = append(hosts, h)
	}
	sort.Ints(hosts)
	for _, h := range hosts {
		out = append(out, PortMapping{HostPort: h, ContainerPort: o.Ports[h], Protocol: "tcp"})
	}
	return append(out, o.PortMappings...)
}

// fillNetworkInfo sets Network, IPAddress and Ports of info (address and
// ports only while the container runs or is paused).
func (c *Container) fillNetworkInfo(info *ContainerInfo, status string) {
	info.Network = c.rec.Network
	if info.Network == "" {
		info.Network = NetworkNone
	}
	if status == pdrt.StatusRunning || status == pdrt.StatusPaused {
		info.IPAddress = c.rec.IPAddress
		info.Ports = append([]PortMapping(nil), c.rec.PublishedPorts...)
	}
}

// ParsePortSpec parses the CLI form [IP:][HOST:]CTR[/udp] (docker's and
// podman's -p): "8080:80", "127.0.0.1:8080:80", "127.0.0.1::80" and "80" (a
// free host port), "53:53/udp". Errors wrap ErrInvalidArgument and quote it.
func ParsePortSpec(s string) (PortMapping, error) {
	return pdrt.ParsePortSpec(s)
}
