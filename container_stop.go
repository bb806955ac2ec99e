package pocketdock

import (
	"context"
	"fmt"
	"time"
)

// StopAfter is Stop with a chosen grace period (docker/podman stop -t): it
// sends SIGTERM to PID 1 (the agent forwards it to every command), waits up
// to grace for the container to end, then sends SIGKILL. grace 0 means
// SIGKILL at once (Stop with force); Stop uses DefaultStopGrace (10 s). Like
// Stop it never removes the container, and a stopped container is no error.
// ctx ending (a Ctrl-C) cuts the grace period short: SIGKILL goes at once
// and the stop still completes, so an interrupted stop leaves a stopped
// container, never a half-stopped one.
// Errors: ErrInvalidArgument (naming the value) for a negative grace.
func (c *Container) StopAfter(ctx context.Context, grace time.Duration) error {
	if grace < 0 {
		return fmt.Errorf("stop %s: %w: grace period %s: want 0 (SIGKILL at once) or more", c.rec.Name, ErrInvalidArgument, grace)
	}
	c.saveJobLogs(context.WithoutCancel(ctx))
	if err := c.m.Stop(ctx, c.rec, grace == 0, grace); err != nil {
		return fmt.Errorf("stop %s: %w", c.rec.Name, err)
	}
	return nil
}
