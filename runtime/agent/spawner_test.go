package agent

import (
	"syscall"
	"testing"
	"time"
)

// TestSpawnerDeathKillsCommand: a spawner that dies while its command runs
// (as one whose Go runtime cannot start a thread at a full pids limit)
// leaves the command below the agent; the agent kills the command's whole
// session — also the orphan that left the main process's tree — and only
// then reports the exit, 137.
func TestSpawnerDeathKillsCommand(t *testing.T) {
	a := startAgent(t)
	conn, _, pid := startCommand(t, a, "sh", "-c", "sleep 1041 & (sleep 1042 &); sleep 1043")
	args := [][]string{{"sleep", "1041"}, {"sleep", "1042"}, {"sleep", "1043"}}
	if !eventually(5*time.Second, func() bool {
		for _, a := range args {
			if len(processesWithArgs(a...)) != 1 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the sleeps did not start")
	}
	for _, a := range args {
		killAtCleanup(t, processesWithArgs(a...)...)
	}
	_, spawner, ok := procState(pid)
	if !ok || spawner == a.pid() {
		t.Fatalf("parent of the command %d: %d (agent %d)", pid, spawner, a.pid())
	}
	if err := syscall.Kill(spawner, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var code int
	var err error
	go func() {
		code, err = conn.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit reported 30 s after the spawner died")
	}
	if err != nil || code != 137 {
		t.Fatalf("exit %d, %v; want 137", code, err)
	}
	// The exit comes once the tree is gone.
	for _, a := range args {
		if left := processesWithArgs(a...); len(left) > 0 {
			t.Errorf("%q still runs after the exit was reported: %v", a, left)
		}
	}
}

// TestDisconnectAfterExitKeepsBackgroundChild: once a command has exited,
// closing its connection kills nothing — a background child it left runs on.
func TestDisconnectAfterExitKeepsBackgroundChild(t *testing.T) {
	a := startAgent(t)
	conn, _, _ := startCommand(t, a, "sh", "-c", "sleep 1044 & exit 3")
	if code, err := conn.Wait(); err != nil || code != 3 {
		t.Fatalf("exit %d, %v; want 3", code, err)
	}
	// The background child may exec sleep only after sh exited.
	if !eventually(5*time.Second, func() bool { return len(processesWithArgs("sleep", "1044")) == 1 }) {
		t.Fatalf("background sleep: %v", processesWithArgs("sleep", "1044"))
	}
	killAtCleanup(t, processesWithArgs("sleep", "1044")...)
	conn.Close()
	// Give a wrong kill every chance to happen.
	if eventually(time.Second, func() bool { return len(processesWithArgs("sleep", "1044")) == 0 }) {
		t.Fatal("closing the connection after the exit killed the background child")
	}
}
