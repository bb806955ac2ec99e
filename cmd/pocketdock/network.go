package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pocketdock/pocketdock"
)

// addNetworkFlags adds create's --network and -p flags.
func addNetworkFlags(f *pflag.FlagSet, o *pocketdock.Options, ports *[]string) {
	f.StringVar(&o.Network, "network", "", "network: none (loopback only) or bridge (default: the profile's, else none; -p implies bridge)")
	f.StringArrayVarP(ports, "publish", "p", nil, "publish a port [IP:][HOST:]CTR[/udp] (repeatable; empty HOST picks a free port)")
}

// parsePortFlags turns -p values into Options.PortMappings.
func parsePortFlags(o *pocketdock.Options, specs []string) error {
	for _, s := range specs {
		p, err := pocketdock.ParsePortSpec(s)
		if err != nil {
			return err
		}
		o.PortMappings = append(o.PortMappings, p)
	}
	return nil
}

type portJSON struct {
	HostIP        string `json:"host_ip"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
}

func portsJSON(ps []pocketdock.PortMapping) []portJSON {
	out := []portJSON{}
	for _, p := range ps {
		out = append(out, portJSON{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
	}
	return out
}

// printNetworkInfo adds the network lines of info.
func printNetworkInfo(w io.Writer, in pocketdock.ContainerInfo) {
	fmt.Fprintf(w, "Network:\t%s\n", in.Network)
	if in.IPAddress != "" {
		fmt.Fprintf(w, "IP address:\t%s\n", in.IPAddress)
	}
	if len(in.Ports) > 0 {
		var ps []string
		for _, p := range in.Ports {
			ps = append(ps, p.String())
		}
		fmt.Fprintf(w, "Ports:\t%s\n", strings.Join(ps, ", "))
	}
}
