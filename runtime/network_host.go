package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/pocketdock/pocketdock/netns"
)

// NetworkHost is the network mode that shares the host's network namespace
// (like `docker build --network host` and `docker run --network host`): no
// namespace of its own, the host's interfaces, routes and ports; the
// container gets copies of the host's /etc/resolv.conf and /etc/hosts (the
// hostname added), taken at start, so nothing it writes reaches the host's
// files. Port mappings make no sense in it and are refused. The builder runs
// RUN steps in this mode by default.
const NetworkHost = "host"

// setHostNetwork is setNetworkOptions for mode host.
func setHostNetwork(rec *Record, o CreateOptions) error {
	if len(o.Ports) > 0 {
		return fmt.Errorf("%w: %d port mapping(s) with network host: the container shares the host's ports, publishing needs network bridge", ErrInvalidArgument, len(o.Ports))
	}
	rec.Network = NetworkHost
	rec.Ports = nil
	return nil
}

// setupHostNetwork is setupNetwork for mode host: the spec leaves out the
// network namespace (PID 1 stays in the host's), and /etc/hosts,
// /etc/hostname and /etc/resolv.conf are copies written to the run directory
// and bind-mounted: the host's /etc/hosts with the hostname on 127.0.1.1
// appended, and the host's /etc/resolv.conf unchanged (its loopback resolvers
// are reachable from the host's namespace).
func (m *Manager) setupHostNetwork(rec *Record, spec *specs.Spec) error {
	rec.IPAddress, rec.PublishedPorts = "", nil
	ns := spec.Linux.Namespaces[:0]
	for _, n := range spec.Linux.Namespaces {
		if n.Type != specs.NetworkNamespace {
			ns = append(ns, n)
		}
	}
	spec.Linux.Namespaces = ns
	dir := filepath.Join(m.paths.RunDir(rec.ID), "etc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	hosts, _ := os.ReadFile("/etc/hosts")
	if len(hosts) == 0 {
		hosts = []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	} else if hosts[len(hosts)-1] != '\n' {
		hosts = append(hosts, '\n')
	}
	hosts = append(hosts, []byte("127.0.1.1\t"+rec.Hostname+"\n")...)
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	files := []struct {
		name string
		data []byte
	}{
		{"hosts", hosts},
		{"hostname", []byte(netns.HostnameFile(rec.Hostname))},
		{"resolv.conf", resolv},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			return err
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/etc/" + f.name, Type: "bind", Source: path,
			Options: []string{"bind", "rprivate", "nosuid", "nodev", "noexec"}})
	}
	return nil
}

// startImageCmdUnless starts the image's ENTRYPOINT/CMD as job 1 (see
// startImageCmd) unless o.NoImageCmd.
func (m *Manager) startImageCmdUnless(ctx context.Context, rec *Record, o CreateOptions) error {
	if o.NoImageCmd {
		return nil
	}
	return m.startImageCmd(ctx, rec)
}
