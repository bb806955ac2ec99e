package pocketdock

import (
	"context"
	"errors"
	"fmt"

	pdrt "github.com/pocketdock/pocketdock/runtime"
)

// DoctorReport is what Doctor found: Orphans names each leaked object
// (half-made containers, links, nftables rules, addresses, network
// namespaces of containers that are gone), Fixed what was removed (with
// DoctorOptions.Fix), Healthy the containers with nothing wrong.
type DoctorReport = pdrt.DoctorReport

// DoctorOptions configure DoctorWith.
type DoctorOptions struct {
	// Root is the state root ("" = $POCKETDOCK_ROOT or the default).
	Root string
	// Fix removes what was found.
	Fix bool
	// ProjectRoot adds the checks of the project at that root ("" = none):
	// stale instance directories (their container is gone; Fix removes
	// them) and containers of the project whose instance directory is gone
	// (reported; pocketdock rm removes them). Containers of any project
	// whose instance directory is gone are reported either way.
	ProjectRoot string
}

// Doctor lists what the default state root leaked (see DoctorWith) and,
// with projectRoot != "", the project's stale instance directories and
// orphaned containers; it changes nothing.
func Doctor(ctx context.Context, projectRoot string) (DoctorReport, error) {
	return DoctorWith(ctx, DoctorOptions{ProjectRoot: projectRoot})
}

// DoctorWith lists, and with Fix removes, what one state root leaked after a
// crash or a kill -9: containers whose create was interrupted, RUN
// containers of builds that are gone (pd-build-*, see Build), and links,
// nftables rules, addresses and network namespaces tagged with this root
// whose container is gone or stopped. Another root's objects are never touched.
func DoctorWith(ctx context.Context, o DoctorOptions) (DoctorReport, error) {
	m, err := manager(o.Root)
	if err != nil {
		return DoctorReport{}, err
	}
	rep, err := m.Doctor(ctx, o.Fix)
	err = errors.Join(err, projectDoctor(m, o, &rep))
	if err != nil {
		return rep, fmt.Errorf("doctor: %w", err)
	}
	if err := doctorBuilds(ctx, m, o.Fix, &rep); err != nil {
		return rep, fmt.Errorf("doctor: %w", err)
	}
	return rep, nil
}
