package runtime

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pocketdock/pocketdock/cgroups"
)

// Record states kept on disk. The live status (running, paused, exited)
// comes from libcontainer and the agent, never from the record.
const (
	// RecordCreating: a create is under way (or crashed half-way; doctor removes it).
	RecordCreating = "creating"
	// RecordCreated: the container was made and started at least once.
	RecordCreated = "created"
)

// Process is how commands run in the container by default, resolved at create
// from the image config and the options.
type Process struct {
	// Env is the full environment, "K=V".
	Env []string `json:"env"`
	// Cwd is the absolute working directory in the container.
	Cwd string `json:"cwd"`
	// User is the user as given ("sandbox", "1000:1000", "" = root).
	User string `json:"user,omitempty"`
	// UID, GID and Groups are the resolved numeric IDs.
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
}

// Record is pocketdock's on-disk record of one container,
// <data>/containers/<id>/record.json, written atomically.
type Record struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Image    string `json:"image"`    // the reference as the user gave it
	ImageID  string `json:"image_id"` // the storage image ID (64 hex)
	Hostname string `json:"hostname"`
	// Labels are user labels (key → value).
	Labels map[string]string `json:"labels,omitempty"`
	// Timeout is the default Run timeout; negative means none.
	Timeout time.Duration `json:"timeout"`
	// Persist: shutdown only stops.
	Persist bool `json:"persist,omitempty"`
	// Project is the project name ("" if none).
	Project string `json:"project,omitempty"`
	// NoNewPrivileges is the OCI process.noNewPrivileges value.
	NoNewPrivileges bool `json:"no_new_privileges"`
	// Process is the default command environment.
	Process Process `json:"process"`
	// Cmd and Entrypoint are the image's, kept for info.
	Cmd        []string `json:"cmd,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	// Rootfs is the host path of the mounted rootfs (the overlay's merged folder).
	Rootfs string `json:"rootfs,omitempty"`
	// Agent is the host path of the agent binary bind-mounted as PID 1.
	Agent string `json:"agent"`
	// BootID is /proc/sys/kernel/random/boot_id at start; another value means the host rebooted.
	BootID    string    `json:"boot_id"`
	CreatedAt time.Time `json:"created_at"`
	StartedAt time.Time `json:"started_at,omitempty"`
	// InitPID is PID 1's host PID at start.
	InitPID int `json:"init_pid,omitempty"`
	// Limits are the resource caps (memory, CPU, pids), applied to the
	// cgroup at every start.
	Limits cgroups.Limits `json:"limits,omitzero"`
	// Devices are the host devices as given (HOST[:CONTAINER][:PERMS]),
	// resolved again at every start.
	Devices []string `json:"devices,omitempty"`
	// DeviceGroups are the devices' host groups at the last start, added to
	// the supplementary groups of every command.
	DeviceGroups []uint32 `json:"device_groups,omitempty"`
	// Network is the network mode: "none" or "bridge".
	Network string `json:"network,omitempty"`
	// Ports are the requested port forwards (host port 0 = pick one at each start).
	Ports []PortMapping `json:"ports,omitempty"`
	// IPAddress is the address on the bridge given at the last start ("" in mode none).
	IPAddress string `json:"ip_address,omitempty"`
	// PublishedPorts are the forwards of the last start, host ports resolved.
	PublishedPorts []PortMapping `json:"published_ports,omitempty"`
	// Mounts are the volumes (bind mounts), validated and ordered by target
	// depth; start (create, resume, reboot) mounts them again from here.
	Mounts []Mount `json:"mounts,omitempty"`
	// MountPoints are the container paths of every mount of the last start
	// (pocketdock's own and the volumes), from the libcontainer config; a
	// snapshot leaves them out of the diff.
	MountPoints []string `json:"mount_points,omitempty"`
	// ProjectRoot is the project root folder (holding .pocketdock/) of a
	// container that joined a project, "" otherwise; its instance
	// directory is <ProjectRoot>/.pocketdock/instances/<Name>.
	ProjectRoot string `json:"project_root,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// ValidateName checks a container name against ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$
// (API.md; also the hostname). Errors wrap ErrInvalidArgument and quote the name.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		shown := name
		if len(shown) > 80 {
			shown = shown[:80] + "…"
		}
		return fmt.Errorf("%w: container name %q: want 1 to 63 characters of [a-zA-Z0-9_.-], starting with a letter or digit", ErrInvalidArgument, shown)
	}
	return nil
}

var idRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// NewID returns a random container ID: 64 lowercase hex digits.
func NewID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// DefaultName returns "pd-" and 8 random hex digits (the reference's form).
func DefaultName() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "pd-" + hex.EncodeToString(b[:])
}

func (p Paths) recordFile(id string) string { return filepath.Join(p.RecordDir(id), "record.json") }

// writeRecord stores r atomically.
func (p Paths) writeRecord(r *Record) error {
	if !idRE.MatchString(r.ID) {
		return fmt.Errorf("%w: container ID %q", ErrInvalidArgument, r.ID)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.RecordDir(r.ID), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(p.recordFile(r.ID), append(data, '\n'), 0o600)
}

// readRecord loads the record of id; ErrContainerNotFound when it has none.
func (p Paths) readRecord(id string) (*Record, error) {
	if !idRE.MatchString(id) {
		return nil, fmt.Errorf("%w: %q", ErrContainerNotFound, id)
	}
	data, err := os.ReadFile(p.recordFile(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrContainerNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	var r Record
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("record of %s: %w", id, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("record of %s names %q", id, r.ID)
	}
	return &r, nil
}

// listRecords returns every readable record, sorted by creation time.
func (p Paths) listRecords() ([]*Record, error) {
	ents, err := os.ReadDir(p.Containers())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, e := range ents {
		if !e.IsDir() || !idRE.MatchString(e.Name()) {
			continue
		}
		r, err := p.readRecord(e.Name())
		if err != nil {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// findRecord resolves nameOrID: exact name, then full ID, then a unique ID
// prefix (API.md). ErrContainerNotFound when nothing matches, ErrInvalidArgument
// when a prefix is ambiguous.
func (p Paths) findRecord(nameOrID string) (*Record, error) {
	if nameOrID == "" {
		return nil, fmt.Errorf("%w: empty container name", ErrInvalidArgument)
	}
	if idRE.MatchString(nameOrID) {
		if r, err := p.readRecord(nameOrID); err == nil {
			// A name could also be 64 hex; the name wins below only if this ID is absent.
			return r, nil
		}
	}
	recs, err := p.listRecords()
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Name == nameOrID {
			return r, nil
		}
	}
	var match []*Record
	if len(nameOrID) >= 3 && strings.Trim(nameOrID, "0123456789abcdef") == "" {
		for _, r := range recs {
			if strings.HasPrefix(r.ID, nameOrID) {
				match = append(match, r)
			}
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return nil, fmt.Errorf("%w: %q", ErrContainerNotFound, nameOrID)
	default:
		return nil, fmt.Errorf("%w: ID prefix %q matches %d containers; give more digits", ErrInvalidArgument, nameOrID, len(match))
	}
}

// bootID returns the kernel's boot ID, which changes on every boot.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
