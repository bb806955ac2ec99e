package runtime

import (
	"os"
	"strings"
	"sync"
	"time"
)

// maxAgentLog is how much of the agent's start-up output (stdout and stderr
// of PID 1) is kept for an error message, in bytes.
const maxAgentLog = 64 << 10

// agentLog collects what PID 1 writes to stdout and stderr while it starts.
//
// PID 1's stdout and stderr are the write end of a pipe, never a host file:
// anything in the container that reaches PID 1's fds (container root can
// open /proc/1/fd/1) must not be able to write to the host's disk. Once the
// agent answered, close drops the read end, and later writes fail with
// EPIPE (the agent catches SIGPIPE, so it is not killed by it).
type agentLog struct {
	r    *os.File
	W    *os.File // PID 1's stdout and stderr; the host closes its copy after start
	mu   sync.Mutex
	buf  []byte
	done chan struct{}
}

func newAgentLog() (*agentLog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	l := &agentLog{r: r, W: w, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			l.mu.Lock()
			if room := maxAgentLog - len(l.buf); room > 0 {
				l.buf = append(l.buf, b[:min(n, room)]...)
			}
			l.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return l, nil
}

// text waits up to d for the writers to finish (PID 1 died) and returns the
// output so far, trimmed.
func (l *agentLog) text(d time.Duration) string {
	select {
	case <-l.done:
	case <-time.After(d):
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(string(l.buf))
}

// close stops reading and closes both host ends of the pipe.
func (l *agentLog) close() {
	l.W.Close()
	l.r.SetReadDeadline(time.Now())
	<-l.done
	l.r.Close()
}
