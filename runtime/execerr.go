package runtime

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pocketdock/pocketdock/runtime/agent"
)

// agentShuttingDown is the agent's refusal of a new command once it got
// SIGTERM (cmd/pocketdock-init, server.go).
const agentShuttingDown = "the agent is shutting down"

// execError types an error of agent.Run on container rec: a request the
// client refused (agent.ErrInvalidRequest) also wraps ErrInvalidArgument; when the agent
// refused because it is shutting down, or the connection broke because PID
// 1 is gone (stopped, killed from the host), the error wraps
// ErrContainerNotRunning as well as the agent's error. Other errors are
// returned as they are.
func (m *Manager) execError(rec *Record, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, agent.ErrInvalidRequest) {
		// NUL bytes in argv or env, an env entry without KEY=, ...
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if errors.Is(err, agent.ErrStart) && strings.Contains(err.Error(), agentShuttingDown) {
		return fmt.Errorf("%w: %s is stopping: %w", ErrContainerNotRunning, rec.Name, err)
	}
	if !errors.Is(err, agent.ErrClosed) && !errors.Is(err, agent.ErrProtocol) && !isDialError(err) {
		return err
	}
	// A dying PID 1 closes its connections a moment before the kernel
	// reports it gone: look for up to a second.
	deadline := time.Now().Add(time.Second)
	for {
		st, serr := m.Status(rec)
		if serr == nil && st != StatusRunning {
			return fmt.Errorf("%w: %s is %s: %w", ErrContainerNotRunning, rec.Name, st, err)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isDialError reports a failure to reach the agent's socket at all, or a
// connection the agent's end dropped.
func isDialError(err error) bool {
	return errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT) ||
		errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE) || errors.Is(err, io.EOF)
}
