package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
)

// answerJobs is a fake agent that answers one request with jobs.
func answerJobs(jobs []JobInfo) func(c *net.UnixConn) {
	return func(c *net.UnixConn) {
		if !greet(c) {
			return
		}
		if _, fds, err := ReadMessage(c, 8); err == nil {
			for _, fd := range fds {
				os.NewFile(uintptr(fd), "").Close()
			}
			WriteMessage(c, &Message{Type: TypeJobs, Jobs: jobs})
		}
	}
}

func TestHostValidatesJobInfo(t *testing.T) {
	ctx := context.Background()
	code := 0
	bad := 300
	good := JobInfo{ID: 1, Tag: strings.Repeat("ab", 16), Cap: 10, Running: true}
	cases := map[string]func(j *JobInfo){
		"id 0":           func(j *JobInfo) { j.ID = 0 },
		"id too big":     func(j *JobInfo) { j.ID = MaxJobID + 1 },
		"path in tag":    func(j *JobInfo) { j.Tag = "../../../../etc/passwd" },
		"short tag":      func(j *JobInfo) { j.Tag = "abc" },
		"cap 0":          func(j *JobInfo) { j.Cap = 0 },
		"cap huge":       func(j *JobInfo) { j.Cap = MaxJobCap + 1 },
		"negative total": func(j *JobInfo) { j.StdoutTotal = -1 },
		"ended no code":  func(j *JobInfo) { j.Running = false },
		"ended code 300": func(j *JobInfo) { j.Running = false; j.ExitCode = &bad },
		"negative pid":   func(j *JobInfo) { j.Pid = -5 },
	}
	for name, mutate := range cases {
		j := good
		mutate(&j)
		conn, err := Dial(ctx, fakeAgent(t, answerJobs([]JobInfo{j})))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Jobs(); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: got %v, want ErrProtocol", name, err)
		}
		conn.Close()
	}
	// A good one passes, its command text sanitised.
	j := good
	j.Running, j.ExitCode, j.Cmd = false, &code, "echo \x1b[31mred\n"
	conn, err := Dial(ctx, fakeAgent(t, answerJobs([]JobInfo{j})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	jobs, err := conn.Jobs()
	if err != nil || len(jobs) != 1 || strings.ContainsAny(jobs[0].Cmd, "\x1b\n") {
		t.Fatalf("good job: %+v %v", jobs, err)
	}
}

func TestHostValidatesDetachAnswer(t *testing.T) {
	ctx := context.Background()
	for _, job := range []int{0, -1, MaxJobID + 1} {
		path := fakeAgent(t, func(c *net.UnixConn) {
			if !greet(c) {
				return
			}
			if _, fds, err := ReadMessage(c, 8); err == nil {
				for _, fd := range fds {
					os.NewFile(uintptr(fd), "").Close()
				}
				WriteMessage(c, &Message{Type: TypeStarted, Pid: 5, Job: job})
			}
		})
		conn, err := Dial(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		null, _ := os.Open(os.DevNull)
		_, _, err = conn.Detach(ExecRequest{Argv: []string{"true"}}, DetachRequest{Tag: strings.Repeat("0", 32), Cap: 1}, null, null, null)
		null.Close()
		conn.Close()
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("job %d: got %v, want ErrProtocol", job, err)
		}
	}
	if err := (&DetachRequest{Tag: "../x", Cap: 1}).Validate(); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("bad tag: %v", err)
	}
	if err := (&FileRequest{Op: FilePush, Path: "/x", Name: "../y"}).Validate(); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("bad name: %v", err)
	}
	if err := (&FileRequest{Op: "rm", Path: "/x"}).Validate(); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("bad op: %v", err)
	}
}
