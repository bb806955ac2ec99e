package runtime

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateName(t *testing.T) {
	good := []string{"a", "pd-1234abcd", "A.b_c-d", strings.Repeat("x", 63), "0start"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", n, err)
		}
	}
	bad := []string{"", "../x", "a/b", "-lead", ".hidden", "_x", strings.Repeat("x", 64), strings.Repeat("a", 300), "sp ace", "é"}
	for _, n := range bad {
		err := ValidateName(n)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidArgument", n, err)
			continue
		}
		if n != "" && len(n) < 80 && !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not name %q", err, n)
		}
	}
}

func TestNewIDAndDefaultName(t *testing.T) {
	a, b := NewID(), NewID()
	if !idRE.MatchString(a) || a == b {
		t.Fatalf("NewID: %q %q", a, b)
	}
	n := DefaultName()
	if !strings.HasPrefix(n, "pd-") || len(n) != 11 || ValidateName(n) != nil {
		t.Fatalf("DefaultName: %q", n)
	}
}

func TestFindRecord(t *testing.T) {
	p := Paths{Data: t.TempDir(), Run: t.TempDir()}
	mk := func(id, name string) {
		if err := p.writeRecord(&Record{ID: id, Name: name, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	id1 := "abc" + strings.Repeat("1", 61)
	id2 := "abd" + strings.Repeat("2", 61)
	mk(id1, "first")
	mk(id2, "second")
	cases := map[string]string{"first": id1, "second": id2, id1: id1, "abc": id1, "abd2": id2}
	for q, want := range cases {
		r, err := p.findRecord(q)
		if err != nil || r.ID != want {
			t.Errorf("findRecord(%q) = %v, %v; want %s", q, r, err, want)
		}
	}
	if _, err := p.findRecord("ab"); !errors.Is(err, ErrContainerNotFound) {
		t.Errorf("2-digit prefix: %v", err)
	}
	if _, err := p.findRecord("ab" + "c"[:0] + "c"); err != nil {
		t.Errorf("abc: %v", err)
	}
	mk("abe"+strings.Repeat("3", 61), "third")
	if _, err := p.findRecord("ab"); !errors.Is(err, ErrContainerNotFound) {
		t.Errorf("short prefix must not match: %v", err)
	}
	if _, err := p.findRecord("nope"); !errors.Is(err, ErrContainerNotFound) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := p.findRecord(""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty: %v", err)
	}
	// An ambiguous prefix is refused, naming the count.
	mk("abc"+strings.Repeat("4", 61), "fourth")
	if _, err := p.findRecord("abc"); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "2 containers") {
		t.Errorf("ambiguous: %v", err)
	}
	recs, err := p.listRecords()
	if err != nil || len(recs) != 4 {
		t.Fatalf("listRecords: %d %v", len(recs), err)
	}
	if err := p.writeRecord(&Record{ID: "../../etc"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("writeRecord with a bad ID: %v", err)
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1", "B=2"}, []string{"A=3", "C=4", "B="})
	want := "PATH=/bin A=3 B= C=4"
	if strings.Join(got, " ") != want {
		t.Fatalf("mergeEnv = %q, want %q", got, want)
	}
	if !hasEnv(got, "C") || hasEnv(got, "D") || hasEnv(got, "PAT") {
		t.Fatal("hasEnv")
	}
}

func TestResolvePaths(t *testing.T) {
	t.Setenv(RootEnv, "")
	p, err := ResolvePaths("")
	if err != nil || p.Data != DefaultDataDir || p.Run != DefaultRunDir || p.ID() != "default" {
		t.Fatalf("defaults: %+v %v", p, err)
	}
	t.Setenv(RootEnv, "/srv/pd")
	p, _ = ResolvePaths("")
	if p.Data != "/srv/pd" || p.Run != "/srv/pd/run" || p.StorageGraph() != "/srv/pd/storage" {
		t.Fatalf("env root: %+v", p)
	}
	p, _ = ResolvePaths("/x") // an explicit root wins over the environment
	if p.Data != "/x" || p.SocketPath(strings.Repeat("a", 64)) != "/x/run/c/"+strings.Repeat("a", 64)+"/agent.sock" {
		t.Fatalf("explicit root: %+v", p)
	}
}

func TestBuildSpec(t *testing.T) {
	s, err := buildSpec(specInput{ID: strings.Repeat("f", 64), Hostname: "h", Rootfs: "/r", AgentHostPath: "/a", NoNewPrivileges: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Process.Args[0] != AgentPath || !s.Process.NoNewPrivileges || s.Hostname != "h" {
		t.Fatalf("process: %+v", s.Process)
	}
	if s.Linux.CgroupsPath != "/pocketdock/"+strings.Repeat("f", 64) {
		t.Fatalf("cgroups path %q", s.Linux.CgroupsPath)
	}
	if s.Linux.Resources.Pids == nil || *s.Linux.Resources.Pids.Limit != DefaultPidsLimit {
		t.Fatal("default pids limit missing")
	}
	if s.Linux.Seccomp == nil || len(s.Linux.Seccomp.Syscalls) == 0 {
		t.Fatal("no seccomp profile")
	}
	var agentMount bool
	for _, m := range s.Mounts {
		if m.Destination == AgentPath && m.Source == "/a" {
			agentMount = true
			if !strings.Contains(strings.Join(m.Options, ","), "ro") {
				t.Fatal("agent mount is not read-only")
			}
		}
	}
	if !agentMount {
		t.Fatal("agent not mounted")
	}
	for _, r := range s.Process.Rlimits {
		if r.Type == "RLIMIT_NOFILE" && r.Hard > nofileLimit() {
			t.Fatalf("nofile %d above the host's hard limit", r.Hard)
		}
	}
	ns := map[string]bool{}
	for _, n := range s.Linux.Namespaces {
		ns[string(n.Type)] = true
	}
	for _, want := range []string{"pid", "network", "ipc", "uts", "mount", "cgroup"} {
		if !ns[want] {
			t.Errorf("namespace %s missing", want)
		}
	}
}
