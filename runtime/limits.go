package runtime

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/pocketdock/pocketdock/cgroups"
	"github.com/pocketdock/pocketdock/devices"
)

// argError makes an error of package cgroups or devices match this
// package's ErrInvalidArgument too, keeping its text.
type argError struct{ err error }

func (e argError) Error() string   { return e.err.Error() }
func (e argError) Unwrap() []error { return []error{ErrInvalidArgument, e.err} }

// asArgError wraps err of package cgroups or devices (nil stays nil).
func asArgError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, cgroups.ErrInvalidArgument) || errors.Is(err, devices.ErrInvalidArgument) {
		return argError{err}
	}
	return err
}

// validateResources checks the limits and devices of o before anything is
// made (a bad value leaves nothing behind) and returns the limits to record.
// Errors wrap ErrInvalidArgument and name the value.
func validateResources(o CreateOptions) (cgroups.Limits, error) {
	lim, err := cgroups.Parse(o.MemLimit, o.CPUPercent, o.PidsLimit)
	if err != nil {
		return cgroups.Limits{}, asArgError(err)
	}
	if _, err := devices.ParseAll(o.Devices); err != nil {
		return cgroups.Limits{}, asArgError(err)
	}
	return lim, nil
}

// applyResources adds rec's limits (memory, swap, CPU quota, pids) and
// devices (bind mounts and cgroup allow rules) to the spec of a start, and
// adds the devices' groups to the command groups of rec. The devices are
// resolved again, so a /dev/serial/by-id/... link follows a replugged
// adapter. Errors wrap ErrInvalidArgument (a device gone since create).
func applyResources(s *specs.Spec, rec *Record) error {
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	rec.Limits.Apply(s.Linux.Resources)
	devs, err := devices.ParseAll(rec.Devices)
	if err != nil {
		return fmt.Errorf("container %s: %w", rec.Name, asArgError(err))
	}
	devices.Apply(s, devs)
	rec.DeviceGroups = devices.Groups(devs)
	rec.Process.Groups = devices.AddGroups(rec.Process.Groups, rec.Process.GID, rec.DeviceGroups)
	return nil
}

// withDeviceGroups adds rec's device groups to the groups of a command run
// as another user (WithUser), so every command can open the devices.
func withDeviceGroups(rec *Record, gid uint32, groups []uint32) []uint32 {
	return devices.AddGroups(groups, gid, rec.DeviceGroups)
}
