package test

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// bgBuild is a CLI build running in the background on the test root, its
// progress (stderr) collected as it comes.
type bgBuild struct {
	cmd    *exec.Cmd
	seen   lockedBuffer
	exited chan struct{} // closed once the build ended; err is set then
	err    error         // the build's Wait result
}

// startBuild starts `build -f - --network none --pull never ARGS… CONTEXT`
// with dockerfile on stdin and an empty context folder. The build is killed
// when the test ends, unless it ended by then.
func startBuild(t *testing.T, dockerfile string, args ...string) *bgBuild {
	t.Helper()
	argv := append([]string{"--root", stateRoot, "build", "-f", "-", "--network", "none", "--pull", "never"}, args...)
	b := &bgBuild{cmd: exec.Command(cliBin, append(argv, t.TempDir())...), exited: make(chan struct{})}
	b.cmd.Stdin = strings.NewReader(dockerfile)
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			b.seen.WriteString(sc.Text() + "\n")
		}
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	})
	return b
}

var runningInRE = regexp.MustCompile(`running in ([0-9a-f]{12})`)

// waitRun waits, at most 60 s, until the build's RUN container runs and,
// with marker != "", the RUN printed a line holding marker; it returns that
// container's short ID. The test fails when the build ends first.
func (b *bgBuild) waitRun(t *testing.T, marker string) string {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out := b.seen.String()
		m := runningInRE.FindStringSubmatch(out)
		printed := marker == ""
		for _, l := range strings.Split(out, "\n") {
			// The STEP line shows the RUN's text, marker included.
			printed = printed || (strings.Contains(l, marker) && !strings.Contains(l, "RUN"))
		}
		if m != nil && printed {
			return m[1]
		}
		select {
		case <-b.exited:
			t.Fatalf("the build ended before its RUN started (%v):\n%s", b.err, b.seen.String())
		default:
		}
	}
	t.Fatalf("the RUN did not start within 60 s:\n%s", b.seen.String())
	return ""
}

// lockedBuffer is a bytes.Buffer that goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
