package build

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/pocketdock/pocketdock/image"
)

func TestParseRefusesWithLine(t *testing.T) {
	cases := []struct {
		name, text string
		line       int
		kw, want   string
	}{
		{"unknown", "FROM a\nRUN true\n\nFOO bar\n", 4, "FOO", "unknown instruction"},
		{"onbuild", "FROM a\nONBUILD RUN x\n", 2, "ONBUILD", "not supported"},
		{"maintainer", "FROM a\nMAINTAINER me\n", 2, "MAINTAINER", "not supported"},
		{"run mount", "FROM a\nRUN --mount=type=cache,target=/x true\n", 2, "RUN", "--mount"},
		{"run network", "FROM a\nRUN --network=none true\n", 2, "RUN", "--network"},
		{"add git", "FROM a\nADD git@github.com:x/y.git /x\n", 2, "ADD", "remote source"},
		{"add url and file", "FROM a\nADD https://example.com/x y /x/\n", 2, "ADD", "URLs only"},
		{"checksum local", "FROM a\nADD --checksum=sha256:" + strings.Repeat("a", 64) + " y /x\n", 2, "ADD", "only for http(s)"},
		{"checksum algo", "FROM a\nADD --checksum=md5:abcd https://example.com/x /x\n", 2, "ADD", "sha512"},
		{"checksum short", "FROM a\nADD --checksum=sha256:abcd https://example.com/x /x\n", 2, "ADD", "--checksum=sha256:abcd"},
		{"checksum two", "FROM a\nADD --checksum=sha256:" + strings.Repeat("a", 64) + " https://e.com/x https://e.com/y /x/\n", 2, "ADD", "one URL"},
		{"copy heredoc", "FROM a\nCOPY <<EOF /x\nhi\nEOF\n", 2, "COPY", "heredoc"},
		{"run heredoc", "FROM a\nRUN <<EOF\necho\nEOF\n", 2, "RUN", "heredoc"},
		{"copy parents", "FROM a\nCOPY --parents x /y/\n", 2, "COPY", "--parents"},
		{"bad chmod", "FROM a\nCOPY --chmod=u+x x /y\n", 2, "COPY", "--chmod"},
		{"before from", "ENV A=b\nFROM a\n", 1, "ENV", "before the first FROM"},
		{"later stage", "FROM a AS one\nCOPY --from=two /x /x\nFROM a AS two\n", 2, "COPY", "later stage"},
		{"same stage", "FROM a AS one\nCOPY --from=one /x /x\n", 2, "COPY", "this or a later stage"},
		{"dup stage", "FROM a AS one\nFROM a AS one\n", 2, "FROM", "used twice"},
		{"platform", "FROM --platform=linux/arm64 a\n", 1, "FROM", "--platform"},
		{"bad args", "FROM a\nWORKDIR\n", 2, "WORKDIR", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse("Dockerfile", []byte(c.text))
			var ie *InstructionError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an *InstructionError", err)
			}
			if !errors.Is(err, image.ErrInvalidArgument) {
				t.Errorf("%v does not match ErrInvalidArgument", err)
			}
			if ie.Line != c.line || ie.Instruction != c.kw {
				t.Errorf("got line %d instruction %q, want %d %q (%v)", ie.Line, ie.Instruction, c.line, c.kw, err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "line ") {
				t.Errorf("message %q lacks %q or the line", err, c.want)
			}
		})
	}
	if _, err := parse("Dockerfile", []byte("# nothing\n")); !errors.Is(err, image.ErrInvalidArgument) {
		t.Errorf("no FROM: got %v", err)
	}
}

func TestParseStages(t *testing.T) {
	text := `ARG BASE=busybox
ARG TAG
FROM ${BASE}:${TAG:-latest} AS build
RUN make
COPY --link a b
FROM build
COPY --from=build /x /y
COPY --from=0 /x /z
COPY --from=docker.io/library/alpine /etc/os-release /
CMD ["x"]
`
	d, err := parse("Dockerfile", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.metaArgs) != 2 || len(d.stages) != 2 {
		t.Fatalf("meta args %d stages %d, want 2 and 2", len(d.metaArgs), len(d.stages))
	}
	if d.stages[0].name != "build" || len(d.stages[0].steps) != 2 || len(d.stages[1].steps) != 4 {
		t.Errorf("stages: %+v %+v", d.stages[0], d.stages[1])
	}
	if d.count() != 8 {
		t.Errorf("count %d, want 8", d.count())
	}
	if i, ok := d.stageIndex("BUILD"); !ok || i != 0 {
		t.Errorf("stageIndex(BUILD) = %d %v", i, ok)
	}
	if _, ok := d.stageIndex("2"); ok {
		t.Error("stageIndex(2) found a stage that does not exist")
	}
	if d.stages[1].steps[0].line != 7 || d.stages[1].steps[0].keyword != "COPY" {
		t.Errorf("step: %+v", d.stages[1].steps[0])
	}
	if !d.needsRunner() {
		t.Error("needsRunner false with a RUN")
	}
}

func TestCacheKey(t *testing.T) {
	base := func() cacheInput {
		cfg := dockerspec.DockerOCIImageConfig{}
		cfg.Env = []string{"PATH=/bin", "A=1"}
		cfg.User = "sandbox"
		cfg.WorkingDir = "/app"
		cfg.Shell = []string{"/bin/sh", "-c"}
		return cacheInput{Parent: "p1", Config: cfg, Args: []string{"X=1", "Y=2"},
			History: []string{"ENV A=1"}, Step: []string{"RUN", "/bin/sh", "-c", "make"}, Content: ""}
	}
	k := base().key()
	if len(k) != 64 {
		t.Fatalf("key %q is not 64 hex", k)
	}
	if base().key() != k {
		t.Error("same input, different key")
	}
	same := base()
	same.Args = []string{"Y=2", "X=1"}
	if same.key() != k {
		t.Error("ARG order changed the key")
	}
	changes := map[string]func(*cacheInput){
		"parent":  func(c *cacheInput) { c.Parent = "p2" },
		"env":     func(c *cacheInput) { c.Config.Env = []string{"PATH=/bin", "A=2"} },
		"user":    func(c *cacheInput) { c.Config.User = "root" },
		"workdir": func(c *cacheInput) { c.Config.WorkingDir = "/" },
		"shell":   func(c *cacheInput) { c.Config.Shell = []string{"/bin/bash", "-c"} },
		"label":   func(c *cacheInput) { c.Config.Labels = map[string]string{"a": "b"} },
		"arg":     func(c *cacheInput) { c.Args = []string{"X=1", "Y=3"} },
		"history": func(c *cacheInput) { c.History = nil },
		"step":    func(c *cacheInput) { c.Step = []string{"RUN", "/bin/sh", "-c", "make all"} },
		"content": func(c *cacheInput) { c.Content = "abc" },
	}
	seen := map[string]string{k: "base"}
	for name, f := range changes {
		c := base()
		f(&c)
		nk := c.key()
		if other, dup := seen[nk]; dup {
			t.Errorf("changing %s gives the key of %s", name, other)
		}
		seen[nk] = name
	}
}

func TestParseExpose(t *testing.T) {
	got, err := parseExpose("8000-8002/UDP")
	if err != nil || !slices.Equal(got, []string{"8000/udp", "8001/udp", "8002/udp"}) {
		t.Errorf("range: %v %v", got, err)
	}
	if got, err := parseExpose("80"); err != nil || !slices.Equal(got, []string{"80/tcp"}) {
		t.Errorf("80: %v %v", got, err)
	}
	for _, bad := range []string{"0", "70000", "80/icmp", "x", "9-3"} {
		if _, err := parseExpose(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2"}, []string{"B=3", "C=4"})
	if !slices.Equal(got, []string{"A=1", "B=3", "C=4"}) {
		t.Errorf("got %v", got)
	}
}

// TestCollectAndDigest checks COPY's source resolution (.dockerignore,
// wildcards, folders copied by content, files into a folder) and that the
// content digest sees data, modes and owners.
func TestCollectAndDigest(t *testing.T) {
	ctx := t.TempDir()
	write := func(p, data string, mode os.FileMode) {
		full := filepath.Join(ctx, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("a.txt", "a", 0o644)
	write("b.txt", "b", 0o600)
	write("skip.log", "x", 0o644)
	write("dir/keep.txt", "k", 0o644)
	write("dir/sub/deep.log", "d", 0o644)
	write("secret/key", "s", 0o600)
	if err := os.WriteFile(filepath.Join(ctx, ".dockerignore"), []byte("*.log\n**/*.log\nsecret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pm, err := readIgnore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := copySpec{root: ctx, ignore: pm, sources: []string{"."}, dest: "/app/"}
	es, err := spec.collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.name)
		if e.uid != 0 || e.gid != 0 {
			t.Errorf("%s owned by %d:%d, want 0:0 for context files", e.name, e.uid, e.gid)
		}
	}
	want := []string{"app", "app/.dockerignore", "app/a.txt", "app/b.txt", "app/dir", "app/dir/keep.txt", "app/dir/sub"}
	if !slices.Equal(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}

	glob := copySpec{root: ctx, ignore: pm, sources: []string{"*.txt"}, dest: "/x"}
	es, err = glob.collect()
	if err != nil {
		t.Fatal(err)
	}
	names = nil
	for _, e := range es {
		names = append(names, e.name)
	}
	if !slices.Equal(names, []string{"x", "x/a.txt", "x/b.txt"}) {
		t.Errorf("wildcard entries %v", names)
	}

	for _, src := range []string{"skip.log", "secret/key", "missing", "*.none"} {
		s := copySpec{root: ctx, ignore: pm, sources: []string{src}, dest: "/x"}
		if _, err := s.collect(); !errors.Is(err, image.ErrInvalidArgument) || !strings.Contains(err.Error(), src) {
			t.Errorf("source %s: got %v, want ErrInvalidArgument naming it", src, err)
		}
	}
	// ".." cannot leave the context.
	up := copySpec{root: ctx, sources: []string{"../../a.txt"}, dest: "/f"}
	if es, err := up.collect(); err != nil || len(es) != 1 || es[0].src != filepath.Join(ctx, "a.txt") {
		t.Errorf("../../a.txt: %v %+v", err, es)
	}

	one := copySpec{root: ctx, sources: []string{"a.txt"}, dest: "/f"}
	es1, _ := one.collect()
	d1, err := digestEntries(es1)
	if err != nil {
		t.Fatal(err)
	}
	chown := owner{1000, 1000}
	owned := one
	owned.chown = &chown
	es2, _ := owned.collect()
	d2, _ := digestEntries(es2)
	if d1 == d2 {
		t.Error("--chown did not change the digest")
	}
	write("a.txt", "A", 0o644)
	es3, _ := one.collect()
	d3, _ := digestEntries(es3)
	if d3 == d1 {
		t.Error("new content did not change the digest")
	}
	if err := os.Chmod(filepath.Join(ctx, "a.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	es4, _ := one.collect()
	d4, _ := digestEntries(es4)
	if d4 == d3 {
		t.Error("a new mode did not change the digest")
	}
}

func TestLookupOwner(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nsandbox:x:1000:20::/home/sandbox:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\ndialout:x:20:sandbox\nstaff:x:50:\n"), 0o644)
	cases := map[string]owner{"": {0, 0}, "5": {5, 5}, "5:6": {5, 6}, "sandbox": {1000, 20}, "sandbox:staff": {1000, 50}, "1000:staff": {1000, 50}}
	for spec, want := range cases {
		got, err := lookupOwner(root, spec)
		if err != nil || got != want {
			t.Errorf("%q: got %v %v, want %v", spec, got, err, want)
		}
	}
	if _, err := lookupOwner(root, "nobody"); !errors.Is(err, image.ErrInvalidArgument) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestCmdline(t *testing.T) {
	b := &builder{}
	st := &state{}
	got := b.cmdline(st, instructions.ShellDependantCmdLine{CmdLine: []string{"echo hi"}, PrependShell: true})
	if !slices.Equal(got, []string{"/bin/sh", "-c", "echo hi"}) {
		t.Errorf("default shell: %v", got)
	}
	st.cfg.Shell = []string{"/bin/bash", "-eu", "-c"}
	got = b.cmdline(st, instructions.ShellDependantCmdLine{CmdLine: []string{"echo hi"}, PrependShell: true})
	if !slices.Equal(got, []string{"/bin/bash", "-eu", "-c", "echo hi"}) {
		t.Errorf("SHELL: %v", got)
	}
	got = b.cmdline(st, instructions.ShellDependantCmdLine{CmdLine: []string{"a", "b"}})
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("exec form: %v", got)
	}
}

func TestParseAcceptsAddURL(t *testing.T) {
	text := "FROM a\nADD https://example.com/x.tgz /x/\nADD --checksum=sha512:" + strings.Repeat("0", 128) + " --chown=1:1 http://example.com/y /y\n" +
		"ARG SUM\nADD --checksum=${SUM} https://example.com/z /z\n"
	if _, err := parse("Dockerfile", []byte(text)); err != nil {
		t.Fatal(err)
	}
}

func TestURLFileName(t *testing.T) {
	for u, want := range map[string]string{
		"https://registry.npmjs.org/@oven/bun/-/bun-1.2.tgz": "bun-1.2.tgz",
		"http://127.0.0.1:8080/a/b.txt?x=1#frag":             "b.txt",
		"https://example.com/":                               "",
		"https://example.com":                                "",
	} {
		if got := urlFileName(u, nil); got != want {
			t.Errorf("urlFileName(%q) = %q, want %q", u, got, want)
		}
	}
	resp := &http.Response{Header: http.Header{"Content-Disposition": {`attachment; filename="../evil/name.bin"`}}}
	if got := urlFileName("https://example.com/dl?id=3", resp); got != "name.bin" {
		t.Errorf("Content-Disposition: got %q, want name.bin", got)
	}
}

func TestPlatformArgs(t *testing.T) {
	m := platformArgs()
	for _, k := range PlatformArgs {
		if _, ok := m[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	if m["TARGETARCH"] != goruntime.GOARCH || m["TARGETOS"] != "linux" || !strings.HasPrefix(m["TARGETPLATFORM"], "linux/"+goruntime.GOARCH) {
		t.Errorf("platform args %v", m)
	}
	if m["BUILDPLATFORM"] != m["TARGETPLATFORM"] {
		t.Errorf("BUILDPLATFORM %q != TARGETPLATFORM %q", m["BUILDPLATFORM"], m["TARGETPLATFORM"])
	}
}
