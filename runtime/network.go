package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/pocketdock/pocketdock/netns"
)

// PortMapping forwards a host port to a container port (see netns.PortMapping).
type PortMapping = netns.PortMapping

// Network modes (Options.Network).
const (
	NetworkNone   = netns.ModeNone
	NetworkBridge = netns.ModeBridge
)

// netError makes a netns error match this package's sentinels too, keeping its text.
type netError struct {
	err, kind error
}

func (e *netError) Error() string   { return e.err.Error() }
func (e *netError) Unwrap() []error { return []error{e.err, e.kind} }

func netErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, netns.ErrConflict):
		return &netError{err, ErrConflict}
	case errors.Is(err, netns.ErrInvalidArgument):
		return &netError{err, ErrInvalidArgument}
	}
	return err
}

// setNetworkOptions checks the network options and stores them on rec:
// mode "" means none, or bridge when ports are asked for; ports need bridge.
func setNetworkOptions(rec *Record, o CreateOptions) error {
	if o.Network == NetworkHost {
		return setHostNetwork(rec, o)
	}
	if err := netns.ValidateMode(o.Network); err != nil {
		return netErr(err)
	}
	ports, err := netns.NormalizePorts(o.Ports)
	if err != nil {
		return netErr(err)
	}
	mode := o.Network
	if mode == "" {
		mode = NetworkNone
		if len(ports) > 0 {
			mode = NetworkBridge
		}
	}
	if mode == NetworkNone && len(ports) > 0 {
		return fmt.Errorf("%w: %d port mapping(s) (%s) with network none: publishing ports needs network bridge", ErrInvalidArgument, len(ports), ports[0])
	}
	rec.Network = mode
	rec.Ports = ports
	return nil
}

// NetnsPath is where container id's network namespace is bind-mounted (mode
// bridge): <run>/netns/<id>.
func (p Paths) NetnsPath(id string) string { return filepath.Join(p.Run, "netns", id) }

// setupNetwork gives rec its network before PID 1 starts: in mode bridge a
// namespace with eth0, an address and the port forwards (netns.Setup), which
// the spec then joins; in both modes /etc/hosts, /etc/hostname and
// /etc/resolv.conf, written to the run directory and bind-mounted.
func (m *Manager) setupNetwork(rec *Record, spec *specs.Spec) error {
	if rec.Network == NetworkHost {
		return m.setupHostNetwork(rec, spec)
	}
	rec.IPAddress, rec.PublishedPorts = "", nil
	if rec.Network == NetworkBridge {
		res, err := netns.Setup(netns.Request{RootID: m.paths.ID(), ID: rec.ID, Name: rec.Name,
			NetnsPath: m.paths.NetnsPath(rec.ID), Ports: rec.Ports})
		if err != nil {
			return netErr(err)
		}
		rec.IPAddress, rec.PublishedPorts = res.IP, res.Ports
		for i, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				spec.Linux.Namespaces[i].Path = m.paths.NetnsPath(rec.ID)
			}
		}
	}
	dir := filepath.Join(m.paths.RunDir(rec.ID), "etc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := []struct{ name, data string }{
		{"hosts", netns.HostsFile(rec.Hostname, rec.Name, rec.IPAddress)},
		{"hostname", netns.HostnameFile(rec.Hostname)},
		{"resolv.conf", netns.ResolvConf()},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, []byte(f.data), 0o644); err != nil {
			return err
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/etc/" + f.name, Type: "bind", Source: path,
			Options: []string{"bind", "rprivate", "nosuid", "nodev", "noexec"}})
	}
	return nil
}

// releaseNetwork removes container id's veth, address, rules and namespace
// (netns.Release); a container of mode none with no namespace file costs
// nothing. Absent objects are no error.
func (m *Manager) releaseNetwork(id string) error {
	if rec, err := m.paths.readRecord(id); err == nil && rec.Network != NetworkBridge {
		if _, err := os.Stat(m.paths.NetnsPath(id)); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	if err := netns.Release(m.paths.ID(), id, m.paths.NetnsPath(id)); err != nil {
		return fmt.Errorf("release network of %s: %w", id, err)
	}
	return nil
}

// ParsePortSpec parses -p's [IP:][HOST:]CTR[/udp] (netns.ParsePortSpec);
// errors wrap ErrInvalidArgument.
func ParsePortSpec(s string) (PortMapping, error) {
	p, err := netns.ParsePortSpec(s)
	return p, netErr(err)
}
