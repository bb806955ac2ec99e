package pocketdock

import (
	"context"
	"fmt"
	"sort"

	pdrt "github.com/pocketdock/pocketdock/runtime"
	"github.com/pocketdock/pocketdock/snapshot"
)

// optionMounts returns opts.Volumes (sorted by host path, so the order is
// stable) followed by opts.Mounts; the runtime orders them by target depth.
func optionMounts(opts Options) []Mount {
	var out []Mount
	hosts := make([]string, 0, len(opts.Volumes))
	for h := range opts.Volumes {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		out = append(out, Mount{Source: h, Target: opts.Volumes[h]})
	}
	return append(out, opts.Mounts...)
}

// Stop stops the container — SIGTERM to PID 1, then SIGKILL after
// DefaultStopGrace (force: SIGKILL at once) — and never removes it, persistent
// or not: its files, volumes and configuration stay for Resume. A stopped
// container is no error. When ctx ends during the grace period, SIGKILL
// goes at once and the stop still completes (see StopAfter).
func (c *Container) Stop(ctx context.Context, force bool) error {
	if force {
		return c.StopAfter(ctx, 0)
	}
	return c.StopAfter(ctx, DefaultStopGrace)
}

// Pause freezes every process of the container (cgroup freezer); commands are
// refused with ErrContainerNotRunning until Unpause. ErrContainerNotRunning
// when it is not running.
func (c *Container) Pause(ctx context.Context) error {
	if err := c.m.Pause(c.rec); err != nil {
		return fmt.Errorf("pause %s: %w", c.rec.Name, err)
	}
	return nil
}

// Unpause thaws a paused container (a running one is no error).
func (c *Container) Unpause(ctx context.Context) error {
	if err := c.m.Unpause(c.rec); err != nil {
		return fmt.Errorf("unpause %s: %w", c.rec.Name, err)
	}
	return nil
}

// Resume starts a stopped container again with its files and its stored
// configuration (volumes, and whatever else the record keeps); also after a
// host reboot. A running container is left alone, a paused one thawed.
// Errors: ErrInvalidArgument when a volume's host path is gone (named),
// ErrConflict while a create is under way.
func (c *Container) Resume(ctx context.Context) error {
	if err := c.m.Resume(ctx, c.rec); err != nil {
		return fmt.Errorf("resume %s: %w", c.rec.Name, err)
	}
	return nil
}

// Reboot restarts the container (SIGTERM, SIGKILL after DefaultStopGrace).
// In place it keeps the filesystem and configuration; fresh recreates the
// container's filesystem from the image, keeping name and configuration
// (volumes, limits, …).
func (c *Container) Reboot(ctx context.Context, fresh bool) error {
	c.saveJobLogs(ctx)
	if err := c.m.Reboot(ctx, c.rec, fresh, DefaultStopGrace); err != nil {
		return fmt.Errorf("reboot %s: %w", c.rec.Name, err)
	}
	return nil
}

// Snapshot commits the container's filesystem changes (its overlay diff,
// deletions as whiteouts) as a new image named imageName ("snap" →
// localhost/snap:latest) and returns the image ID; CreateNewContainer and
// export take it like any image. The container is frozen while the diff is
// taken. pocketdock's mount points (agent, volume targets, …) are left out.
// ErrInvalidArgument when a file name starts with ".wh." (named; nothing is
// committed) or the image name is bad.
func (c *Container) Snapshot(ctx context.Context, imageName string) (string, error) {
	store, err := c.m.Images()
	if err != nil {
		return "", fmt.Errorf("snapshot %s: %w", c.rec.Name, err)
	}
	cur, err := c.m.Get(c.rec.ID)
	if err != nil {
		return "", fmt.Errorf("snapshot %s: %w", c.rec.Name, err)
	}
	o := snapshot.Options{
		Store: store, ContainerID: cur.ID, BaseImage: cur.ImageID, Name: imageName,
		// Every mount of the container's last start: agent, volumes, and
		// whatever else the runtime mounts (hosts, resolv.conf, devices).
		Exclude:   cur.MountPoints,
		CreatedBy: "pocketdock snapshot " + cur.Name,
		Comment:   "snapshot of container " + cur.Name + " (" + cur.ID[:12] + ") on " + cur.Image,
		Frozen: func(fn func() error) error {
			return c.m.WithFrozen(cur, func(*pdrt.Record) error { return fn() })
		},
	}
	id, err := snapshot.Commit(ctx, o)
	if err != nil {
		return "", fmt.Errorf("snapshot %s: %w", c.rec.Name, err)
	}
	return id, nil
}

// StopContainer stops the named container of the default state root (see
// Container.Stop); it never removes it.
func StopContainer(ctx context.Context, nameOrID string) error {
	c, err := GetContainer(ctx, nameOrID)
	if err != nil {
		return err
	}
	return c.Stop(ctx, false)
}

// ResumeContainer resumes the named container of the default state root
// (see Container.Resume) and returns a handle to it.
func ResumeContainer(ctx context.Context, nameOrID string) (*Container, error) {
	return ResumeContainerIn(ctx, "", nameOrID)
}

// ResumeContainerIn is ResumeContainer in an explicit state root.
func ResumeContainerIn(ctx context.Context, root, nameOrID string) (*Container, error) {
	c, err := GetContainerIn(ctx, root, nameOrID)
	if err != nil {
		return nil, err
	}
	if err := c.Resume(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Prune removes every exited container of project ("" = all) in the default
// state root, with its files, and returns how many it removed.
func Prune(ctx context.Context, project string) (int, error) {
	return PruneIn(ctx, "", project)
}

// PruneIn is Prune in an explicit state root.
func PruneIn(ctx context.Context, root, project string) (int, error) {
	m, err := manager(root)
	if err != nil {
		return 0, err
	}
	defer dropGoneInstances(m, projectRecords(m))
	n, err := m.Prune(ctx, project)
	if err != nil {
		return n, fmt.Errorf("prune: %w", err)
	}
	return n, nil
}

// DestroyContainerIn is DestroyContainer in an explicit state root.
func DestroyContainerIn(ctx context.Context, root, nameOrID string) error {
	c, err := GetContainerIn(ctx, root, nameOrID)
	if err != nil {
		return err
	}
	return c.Destroy(ctx)
}
