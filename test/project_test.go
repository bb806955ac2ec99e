package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

// cliIn runs the pocketdock binary in folder dir with the test root given
// the way a user's shell gives it ($POCKETDOCK_ROOT, no --root), and
// returns stdout, stderr and the exit code.
func cliIn(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	needRoot(t)
	cmd := exec.Command(cliBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "POCKETDOCK_ROOT="+stateRoot)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

type historyLine struct {
	Time       string  `json:"time"`
	Instance   string  `json:"instance"`
	Command    string  `json:"command"`
	ExitCode   int     `json:"exit_code"`
	DurationMS float64 `json:"duration_ms"`
	TimedOut   bool    `json:"timed_out"`
}

// readHistoryFile parses an instance's history.jsonl strictly: every line
// must be one JSON object with an RFC 3339 time.
func readHistoryFile(t *testing.T, dir string) []historyLine {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []historyLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var h historyLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&h); err != nil {
			t.Fatalf("history line %q: %v", sc.Text(), err)
		}
		if _, err := time.Parse(time.RFC3339Nano, h.Time); err != nil {
			t.Fatalf("history time %q: %v", h.Time, err)
		}
		out = append(out, h)
	}
	return out
}

// TestProjectCLI is the acceptance: init, a container created
// inside the project, two runs → history.jsonl has two lines with their
// exit codes; logs --history shows them; status --json lists the
// container; deleting its instance directory makes doctor report it.
func TestProjectCLI(t *testing.T) {
	needRoot(t)
	before := hostState(t)
	base := t.TempDir()
	projDir := filepath.Join(base, "proj")
	sub := filepath.Join(projDir, "src", "deep")

	out, errs, code := cliIn(t, base, "init", "proj", "--name", "demo")
	if code != 0 || !strings.Contains(out, "Initialized pocketdock project demo") {
		t.Fatalf("init: %d %q %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(projDir, ".pocketdock", "pocketdock.yaml")); err != nil {
		t.Fatal(err)
	}
	out, _, code = cliIn(t, projDir, "init", "--json")
	if code != 0 || !strings.Contains(out, `"reinitialized": true`) {
		t.Fatalf("re-init: %d %q", code, out)
	}
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// quickstart checks the host; the fixture image is in the test root.
	out, errs, code = cliIn(t, sub, "quickstart", "--json")
	var qs struct {
		Checks []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &qs); err != nil || code != 0 || len(qs.Checks) != 4 {
		t.Fatalf("quickstart --json: %d %q %q %v", code, out, errs, err)
	}
	for _, c := range qs.Checks {
		if (c.Name == "root" || c.Name == "image "+pythonImage) && !c.OK {
			t.Fatalf("quickstart: %+v", qs.Checks)
		}
	}
	if out, _, code = cliIn(t, sub, "quickstart"); code != 0 || !strings.Contains(out, "pocketdock init") {
		t.Fatalf("quickstart: %d %q", code, out)
	}

	name := "pj-cli"
	out, errs, code = cliIn(t, sub, "create", "--image", busyboxImage, "--name", name, "--pull", "never", "--json")
	var created struct{ ID, Name string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || code != 0 || created.Name != name {
		t.Fatalf("create in project: %d %q %q", code, out, errs)
	}
	t.Cleanup(func() { cli(t, "rm", name) })
	inst := filepath.Join(projDir, ".pocketdock", "instances", name)
	toml, err := os.ReadFile(filepath.Join(inst, "instance.toml"))
	if err != nil || !strings.Contains(string(toml), `name = "`+name+`"`) || !strings.Contains(string(toml), `project = "demo"`) {
		t.Fatalf("instance.toml: %v\n%s", err, toml)
	}

	if out, _, code = cliIn(t, sub, "run", name, "--", "echo one"); code != 0 || out != "one\n" {
		t.Fatalf("run 1: %d %q", code, out)
	}
	if out, _, code = cliIn(t, base, "run", name, "--", "echo two; exit 3"); code != 3 || out != "two\n" {
		t.Fatalf("run 2: %d %q", code, out)
	}
	h := readHistoryFile(t, inst)
	if len(h) != 2 || h[0].ExitCode != 0 || h[1].ExitCode != 3 || h[0].Command != "echo one" || h[1].Command != "echo two; exit 3" {
		t.Fatalf("history.jsonl: %+v", h)
	}
	if h[0].DurationMS <= 0 || h[0].TimedOut || h[1].TimedOut {
		t.Fatalf("history fields: %+v", h)
	}

	// logs --history: by name from anywhere, and the whole project from inside it.
	out, errs, code = cliIn(t, base, "logs", name, "--history")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[1], "echo one") || !strings.Contains(lines[2], "echo two; exit 3") ||
		!strings.Contains(lines[2], " 3 ") {
		t.Fatalf("logs --history: %d %q %q", code, out, errs)
	}
	out, _, code = cliIn(t, sub, "logs", "--history", "--json", "--limit", "1")
	var hj []historyLine
	if err := json.Unmarshal([]byte(out), &hj); err != nil || code != 0 || len(hj) != 1 || hj[0].ExitCode != 3 || hj[0].Instance != name {
		t.Fatalf("logs --history --json --limit 1: %d %q %v", code, out, err)
	}
	if _, errs, code = cliIn(t, base, "logs", "--history"); code != 125 || !strings.Contains(errs, "project not initialized") {
		t.Fatalf("logs --history outside a project: %d %q", code, errs)
	}

	// status --json lists the container.
	out, _, code = cliIn(t, sub, "status", "--json")
	var st struct {
		ProjectName string `json:"project_name"`
		Root        string `json:"root"`
		Containers  []struct {
			Name, Status string
			DataPath     string `json:"data_path"`
			Runs         int    `json:"runs"`
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("status --json: %d %q %v", code, out, err)
	}
	if st.ProjectName != "demo" || st.Root != projDir || len(st.Containers) != 1 || st.Containers[0].Name != name ||
		st.Containers[0].Status != "running" || st.Containers[0].Runs != 2 || st.Containers[0].DataPath != inst {
		t.Fatalf("status: %+v", st)
	}
	if out, _, code = cliIn(t, base, "list", "--project", "demo", "--json"); code != 0 || !strings.Contains(out, `"name": "`+name+`"`) {
		t.Fatalf("list --project demo: %d %q", code, out)
	}
	if out, _, code = cliIn(t, base, "list", "--project", "nope", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list --project nope: %d %q", code, out)
	}

	// A detached job's output lands in logs/ (auto_log) and `logs` shows it.
	if out, errs, code = cliIn(t, sub, "run", "--detach", name, "--", "echo jobout; echo joberr >&2; exit 4"); code != 0 {
		t.Fatalf("run --detach: %d %q %q", code, out, errs)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, errs, code = cliIn(t, sub, "logs")
		if code == 0 && strings.Contains(out, "exit code 4") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("project logs never showed the ended job: %d %q %q", code, out, errs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out, "==> "+name+"/job-1-") || !strings.Contains(out, "jobout\n") || !strings.Contains(out, "joberr\n") {
		t.Fatalf("project logs: %q", out)
	}
	files, _ := filepath.Glob(filepath.Join(inst, "logs", "job-1-*.log"))
	if len(files) != 1 {
		t.Fatalf("job log files: %v", files)
	}

	// doctor: healthy, then the instance directory deleted → reported.
	type doctorJSON struct {
		Orphans            []string `json:"orphans"`
		Fixed              []string `json:"fixed"`
		StaleInstances     []string `json:"stale_instances"`
		OrphanedContainers []string `json:"orphaned_containers"`
		ProjectHealthy     int      `json:"project_healthy"`
		ProjectRoot        string   `json:"project_root"`
	}
	doctor := func(args ...string) doctorJSON {
		t.Helper()
		out, errs, code := cliIn(t, sub, append([]string{"doctor", "--json"}, args...)...)
		var d doctorJSON
		if err := json.Unmarshal([]byte(out), &d); err != nil || code != 0 {
			t.Fatalf("doctor: %d %q %q %v", code, out, errs, err)
		}
		return d
	}
	if d := doctor(); d.ProjectHealthy != 1 || len(d.OrphanedContainers) != 0 || len(d.StaleInstances) != 0 || d.ProjectRoot != projDir {
		t.Fatalf("doctor before: %+v", d)
	}
	if err := os.RemoveAll(inst); err != nil {
		t.Fatal(err)
	}
	// A stale instance directory too: its container never existed in this root.
	stale := filepath.Join(projDir, ".pocketdock", "instances", "gone")
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(stale, "instance.toml"), []byte("id = \""+strings.Repeat("0", 64)+"\"\nname = \"gone\"\nstate_root = \""+stateRoot+"\"\n"), 0o644)
	d := doctor()
	if len(d.OrphanedContainers) != 1 || d.OrphanedContainers[0] != name || len(d.StaleInstances) != 1 || d.StaleInstances[0] != stale || d.ProjectHealthy != 0 {
		t.Fatalf("doctor after deleting the instance dir: %+v", d)
	}
	out, _, _ = cliIn(t, sub, "doctor")
	if !strings.Contains(out, "orphaned container "+name) || !strings.Contains(out, "stale instance directory "+stale) {
		t.Fatalf("doctor text: %q", out)
	}
	d = doctor("--fix")
	if len(d.Fixed) != 1 || !strings.Contains(d.Fixed[0], stale) {
		t.Fatalf("doctor --fix: %+v", d)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale dir after --fix: %v", err)
	}
	if _, errs, code = cliIn(t, sub, "rm", name); code != 0 {
		t.Fatalf("rm: %d %q", code, errs)
	}
	if d := doctor(); len(d.Orphans) != 0 {
		t.Fatalf("doctor after rm: %+v", d)
	}
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// TestProjectSDK: the SDK side — joining from the working directory, the
// config's defaults and their precedence, history of Run/Exec/timeouts,
// session and job logs, removal of the instance directory, doctor, prune,
// and bad input.
func TestProjectSDK(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	before := hostState(t)
	projDir := filepath.Join(t.TempDir(), "sdk")
	root, err := pocketdock.InitProject(projDir, "sdkproj")
	if err != nil || root != projDir {
		t.Fatalf("InitProject: %q %v", root, err)
	}
	cfgPath := filepath.Join(projDir, ".pocketdock", "pocketdock.yaml")
	cfg, _ := os.ReadFile(cfgPath)
	// default_persist applies when Options leave Persist false; a small
	// max_log_size makes the session log rotate.
	cfg = bytes.Replace(cfg, []byte("default_persist: false"), []byte("default_persist: true"), 1)
	cfg = bytes.Replace(cfg, []byte("max_log_size: 10MB"), []byte("max_log_size: 2KB"), 1)
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(projDir, "work")
	os.MkdirAll(sub, 0o755)
	t.Chdir(sub)
	if got, err := pocketdock.FindProjectRoot(""); err != nil || got != projDir {
		t.Fatalf("FindProjectRoot: %q %v", got, err)
	}
	if _, err := pocketdock.FindProjectRoot(t.TempDir()); !errors.Is(err, pocketdock.ErrProjectNotInitialized) {
		t.Fatalf("FindProjectRoot outside: %v", err)
	}
	if _, err := pocketdock.InitProject(t.TempDir(), "bad/name"); !errors.Is(err, pocketdock.ErrInvalidArgument) || !strings.Contains(err.Error(), "bad/name") {
		t.Fatalf("InitProject bad name: %v", err)
	}

	c := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "pj-sdk"})
	inst := filepath.Join(projDir, ".pocketdock", "instances", "pj-sdk")
	if c.Project() != "sdkproj" || c.DataPath() != inst || !c.Persist() {
		t.Fatalf("joined: project %q data %q persist %v", c.Project(), c.DataPath(), c.Persist())
	}
	// An explicit project that is not this folder's: the name, no instance directory.
	other := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "pj-other", Project: "elsewhere"})
	if other.Project() != "elsewhere" || other.DataPath() != "" || other.Persist() {
		t.Fatalf("explicit project: %q %q %v", other.Project(), other.DataPath(), other.Persist())
	}
	if _, err := other.Run(ctx, "true"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.History(0); !errors.Is(err, pocketdock.ErrProjectNotInitialized) {
		t.Fatalf("history without instance dir: %v", err)
	}

	if r, err := c.Run(ctx, "echo hi"); err != nil || !r.OK() {
		t.Fatalf("run: %+v %v", r, err)
	}
	if r, err := c.Exec(ctx, []string{"sh", "-c", "exit 3"}); err != nil || r.ExitCode != 3 {
		t.Fatalf("exec: %+v %v", r, err)
	}
	start := time.Now()
	if r, err := c.Run(ctx, "sleep 100", pocketdock.WithTimeout(300*time.Millisecond)); err != nil || !r.TimedOut {
		t.Fatalf("timeout run: %+v %v", r, err)
	}
	if time.Since(start) > 50*time.Second {
		t.Fatalf("timeout run took %s", time.Since(start))
	}
	h, err := c.History(0)
	if err != nil || len(h) != 3 {
		t.Fatalf("history: %+v %v", h, err)
	}
	if h[0].Command != "echo hi" || h[0].ExitCode != 0 || h[1].Command != "sh -c 'exit 3'" || h[1].ExitCode != 3 ||
		!h[2].TimedOut || h[2].ExitCode != -1 || h[2].DurationMS < 300 {
		t.Fatalf("history entries: %+v", h)
	}
	if last, _ := c.History(1); len(last) != 1 || !last[0].TimedOut {
		t.Fatalf("history limit 1: %+v", last)
	}
	if len(readHistoryFile(t, inst)) != 3 {
		t.Fatal("history.jsonl does not have 3 lines")
	}

	// A session's commands and output go to logs/session-*.log, rotated at max_log_size (2 KiB).
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.SendAndWait(ctx, "cd /tmp && echo in-$(pwd)"); err != nil || r.Stdout != "in-/tmp\n" {
		t.Fatalf("session: %+v %v", r, err)
	}
	if r, err := s.SendAndWait(ctx, "i=0; while [ $i -lt 100 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"); err != nil || !r.OK() {
		t.Fatalf("session loop: %+v %v", r, err)
	}
	s.Close()
	select {
	case <-s.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("session did not end")
	}
	var sessionText string
	var sessionFiles int
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs, err := pocketdock.InstanceLogs(projDir, "pj-sdk")
		if err != nil {
			t.Fatal(err)
		}
		sessionText, sessionFiles = "", 0
		for _, f := range logs {
			if strings.HasPrefix(f.Name, "session-") {
				if f.Size > 2048 {
					t.Fatalf("%s is %d bytes, over max_log_size 2KB", f.Name, f.Size)
				}
				b, _ := os.ReadFile(f.Path)
				sessionText += string(b)
				sessionFiles++
			}
		}
		if strings.Contains(sessionText, "# session ended") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(sessionText, "$ cd /tmp && echo in-$(pwd)\nin-/tmp\n# exit 0") || !strings.Contains(sessionText, "line-99-") ||
		!strings.Contains(sessionText, "# session ended") || sessionFiles < 2 {
		t.Fatalf("session log (%d files):\n%s", sessionFiles, sessionText)
	}

	// A waited-for detached job is saved to logs/ at once.
	p, err := c.Detach(ctx, "echo detached-out; exit 5")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	r, err := p.Wait(wctx)
	cancel()
	if err != nil || r.ExitCode != 5 {
		t.Fatalf("wait: %+v %v", r, err)
	}
	jobLogs, _ := filepath.Glob(filepath.Join(inst, "logs", "job-*.log"))
	if len(jobLogs) != 1 {
		t.Fatalf("job logs: %v", jobLogs)
	}
	if b, _ := os.ReadFile(jobLogs[0]); !strings.Contains(string(b), "detached-out") || !strings.Contains(string(b), "exit code 5") {
		t.Fatalf("job log:\n%s", b)
	}

	// Status and doctor through the SDK.
	st, err := pocketdock.ProjectStatus(ctx, stateRoot, "")
	if err != nil || st.Name != "sdkproj" || len(st.Containers) != 1 || st.Containers[0].Runs != 3 {
		t.Fatalf("ProjectStatus: %+v %v", st, err)
	}
	rep, err := pocketdock.DoctorWith(ctx, pocketdock.DoctorOptions{Root: stateRoot, ProjectRoot: projDir})
	if err != nil || rep.ProjectHealthy != 1 || len(rep.StaleInstances)+len(rep.OrphanedContainers) != 0 {
		t.Fatalf("doctor: %+v %v", rep, err)
	}

	// A bad config value: create fails naming it, and leaves nothing behind.
	mid := hostState(t)
	bad := bytes.Replace(cfg, []byte("max_log_size: 2KB"), []byte("max_log_size: huge"), 1)
	if err := os.WriteFile(cfgPath, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = pocketdock.CreateNewContainer(ctx, pocketdock.Options{Root: stateRoot, Image: busyboxImage, Name: "pj-bad", Pull: "never"})
	if !errors.Is(err, pocketdock.ErrInvalidArgument) || !strings.Contains(err.Error(), "max_log_size") || !strings.Contains(err.Error(), `"huge"`) {
		t.Fatalf("bad config: %v", err)
	}
	if left := diffState(mid, hostState(t)); len(left) > 0 {
		t.Fatalf("a refused create left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(projDir, ".pocketdock", "instances", "pj-bad")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("instance dir of a refused create: %v", err)
	}
	// default_profile: an unknown one is refused naming the setting; a known
	// one picks the image when the options name neither image nor profile.
	bad = bytes.Replace(cfg, []byte(`default_profile: ""`), []byte(`default_profile: nope`), 1)
	os.WriteFile(cfgPath, bad, 0o644)
	_, err = pocketdock.CreateNewContainer(ctx, pocketdock.Options{Root: stateRoot, Name: "pj-bad", Pull: "never"})
	if !errors.Is(err, pocketdock.ErrInvalidArgument) || !strings.Contains(err.Error(), "default_profile") || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown default_profile: %v", err)
	}
	withProfile := bytes.Replace(cfg, []byte(`default_profile: ""`), []byte(`default_profile: minimal-python`), 1)
	os.WriteFile(cfgPath, withProfile, 0o644)
	pc := newContainer(t, pocketdock.Options{Name: "pj-prof", Pull: ""})
	pinfo, err := pc.Info(ctx)
	if err != nil || !strings.Contains(pinfo.Image, "pocketdock/minimal-python") {
		t.Fatalf("default_profile image: %q %v", pinfo.Image, err)
	}
	if toml, _ := os.ReadFile(filepath.Join(pc.DataPath(), "instance.toml")); !strings.Contains(string(toml), `profile = "minimal-python"`) {
		t.Fatalf("instance.toml of a default_profile container:\n%s", toml)
	}
	// An explicit image wins over default_profile.
	ic := newContainer(t, pocketdock.Options{Name: "pj-img", Image: busyboxImage})
	if iinfo, _ := ic.Info(ctx); iinfo.Image != busyboxImage {
		t.Fatalf("explicit image: %q", iinfo.Image)
	}
	for _, x := range []*pocketdock.Container{pc, ic} {
		if err := x.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}

	// Stop (persistent) keeps the instance directory; Prune removes container and directory.
	if err := c.Shutdown(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(inst); err != nil {
		t.Fatalf("instance dir after a persistent shutdown: %v", err)
	}
	n, err := pocketdock.PruneIn(ctx, stateRoot, "sdkproj")
	if err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if _, err := os.Stat(inst); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("instance dir after prune: %v", err)
	}

	// Destroy removes the instance directory.
	d := newContainer(t, pocketdock.Options{Image: busyboxImage, Name: "pj-sdk2"})
	if _, err := os.Stat(d.DataPath()); err != nil {
		t.Fatal(err)
	}
	if err := d.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.DataPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("instance dir after destroy: %v", err)
	}
	if err := other.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if left := diffState(before, hostState(t)); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}
