// Command pocketdock-init is the agent that runs as PID 1 of every
// pocketdock container. It reaps zombies, keeps the container alive and runs
// commands for the host over the protocol of package
// github.com/pocketdock/pocketdock/runtime/agent.
//
// # Agent mode (no arguments)
//
// libcontainer starts it as the container's init (at /dev/.pocketdock-init,
// a read-only bind mount) with a listening unix socket as fd 3 (the host's
// ExtraFiles[0]); other arguments are ignored. It then:
//   - reaps every zombie with one wait4(-1) loop, dispatching exit statuses
//     to the commands it started (by pid, under a lock, so a child that ends
//     before it is registered is still matched);
//   - accepts connections on fd 3 and refuses peers whose SO_PEERCRED pid is
//     not 0, i.e. peers inside its own PID namespace (the host's pocketdock
//     shows up as pid 0);
//   - runs each requested command through a spawner (below) and reports its
//     exit; when a connection drops before its command ended, it kills the
//     command's whole tree;
//   - on SIGTERM forwards SIGTERM to every command tree and exits 0 once all
//     commands are gone (at once when none runs); it refuses new commands
//     meanwhile. SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2 and the
//     terminal stop signals are caught and ignored (caught, not set to
//     SIG_IGN, so commands do not inherit an ignored disposition).
//
// When it is not PID 1 (tests), it makes itself a child subreaper so that
// orphans still come to it, and it honours the environment variable
// POCKETDOCK_INIT_ALLOW_PEER_PID=<pid>: a peer with exactly that pid is
// accepted too (outside a container, every peer has a non-zero pid). As PID
// 1 the variable is ignored. Diagnostics go to stderr.
//
// # Spawner mode (argv[1] == "__spawn")
//
// For each command the agent re-executes itself (/proc/self/exe __spawn)
// with fds 0, 1, 2 = the command's stdin, stdout, stderr (received from the
// host), fd 3 = a status pipe to the agent and fd 4 = a control pipe from
// the agent. The control pipe first carries the command (4-byte big-endian
// length + JSON agent.ExecRequest), then single bytes, each a signal number
// to send to the whole tree; EOF means SIGKILL. The spawner makes itself a
// child subreaper, raises oom_score_adj to 1000 for the command (and lowers
// its own back), looks argv[0] up in the PATH of the command's environment,
// and starts the command with setsid, the requested credentials, working
// directory and environment. It writes one JSON object to the status pipe —
// {"pid":N} once the command runs, {"exit":127|126} when it cannot be found
// or executed (a message goes to the command's stderr), or {"error":...}
// when the request cannot be carried out (e.g. a missing working directory)
// — and exits with the command's exit code (128+n when signal n killed it)
// as soon as the command's main process exits; background children then
// reparent to PID 1. A tree kill signals every live descendant (found by
// walking the PPid chains in /proc), repeating for SIGKILL until none is
// left, and only then lets the spawner exit.
//
// # Full pids limit
//
// A command can fill the container's pids limit (a fork bomb), and a Go
// process that then needs one more thread dies. So both modes run with one
// P and keep spare threads started while there was room (threads.go). Should
// a spawner die all the same — while its command runs, or in the middle of a
// tree kill — the agent finishes the job: it kills every process below it
// that still has the command's session ID (the same stop-then-kill walk),
// and only then reports the exit (137 when the command was not being killed
// already).
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == spawnArg {
		spawnMain()
		return
	}
	agentMain()
}

// logf writes one diagnostic line to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pocketdock-init[%d]: "+format+"\n", append([]any{os.Getpid()}, args...)...)
}
