package project

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte("project_name: demo\n"), "f.yaml", "dir")
	if err != nil {
		t.Fatal(err)
	}
	want := Default("demo")
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if !c.AutoLog || c.MaxLogSize != "10MB" || c.MaxLogsPerInstance != 100 || c.RetentionDays != 30 || c.LogLevel != "info" {
		t.Fatalf("defaults: %+v", c)
	}
	lim := c.Limits()
	if lim.MaxSize != 10<<20 || lim.MaxFiles != 100 || lim.Retention != 30*24*time.Hour {
		t.Fatalf("limits: %+v", lim)
	}
	// An empty file: every default, the folder's name.
	c, err = Parse(nil, "f.yaml", "dir")
	if err != nil || c.ProjectName != "dir" {
		t.Fatalf("empty file: %+v %v", c, err)
	}
	// Explicit false and 0 are kept, not replaced by defaults.
	c, err = Parse([]byte("project_name: x\nauto_log: false\nretention_days: 0\ndefault_persist: true\ndefault_profile: dev\nmax_log_size: 512k\n"), "f", "d")
	if err != nil {
		t.Fatal(err)
	}
	if c.AutoLog || c.RetentionDays != 0 || !c.DefaultPersist || c.DefaultProfile != "dev" || c.Limits().MaxSize != 512<<10 || c.Limits().Retention != 0 {
		t.Fatalf("explicit values: %+v", c)
	}
}

func TestParseInvalid(t *testing.T) {
	cases := map[string]struct{ yaml, field string }{
		"bad name":      {"project_name: 'a b'\n", "project_name"},
		"long name":     {"project_name: " + strings.Repeat("a", 64) + "\n", "project_name"},
		"bad size":      {"max_log_size: lots\n", "max_log_size"},
		"tiny size":     {"max_log_size: 10b\n", "max_log_size"},
		"zero logs":     {"max_logs_per_instance: 0\n", "max_logs_per_instance"},
		"negative days": {"retention_days: -1\n", "retention_days"},
		"level":         {"log_level: loud\n", "log_level"},
		"profile":       {"default_profile: '../x'\n", "default_profile"},
		"unknown key":   {"colour: blue\n", "YAML"},
		"not yaml":      {"project_name: [\n", "YAML"},
		"wrong type":    {"auto_log: maybe\n", "YAML"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "/p/.pocketdock/pocketdock.yaml", "p")
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("want a ConfigError, got %v", err)
			}
			if ce.Field != tc.field || ce.Allowed == "" || !strings.Contains(err.Error(), "/p/.pocketdock/pocketdock.yaml") {
				t.Fatalf("error %q: field %q, want %q", err, ce.Field, tc.field)
			}
		})
	}
}

func TestNameFromPath(t *testing.T) {
	for in, want := range map[string]string{
		"/home/u/my app": "my-app", "/x/.hidden": "hidden", "/": "project", "/a/" + strings.Repeat("z", 70): strings.Repeat("z", 63),
		"/a/ok_name.1": "ok_name.1",
	} {
		if got := NameFromPath(in); got != want || !ValidName(got) {
			t.Errorf("NameFromPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInitAndFindRoot(t *testing.T) {
	dir := t.TempDir()
	res, err := Init(filepath.Join(dir, "proj"), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Existed || res.Config.ProjectName != "proj" || res.Root != filepath.Join(dir, "proj") {
		t.Fatalf("init: %+v", res)
	}
	if fi, err := os.Stat(InstancesDir(res.Root)); err != nil || !fi.IsDir() {
		t.Fatalf("instances dir: %v", err)
	}
	loaded, err := Load(res.Root)
	if err != nil || loaded != res.Config {
		t.Fatalf("load after init: %+v %v", loaded, err)
	}
	// Re-init is harmless: the config stays as it was (edited here).
	edited := strings.Replace(string(res.Config.Marshal()), "auto_log: true", "auto_log: false", 1)
	if err := os.WriteFile(ConfigPath(res.Root), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	res2, err := Init(res.Root, "")
	if err != nil || !res2.Existed || res2.Config.AutoLog {
		t.Fatalf("re-init: %+v %v", res2, err)
	}
	if _, err := Init(res.Root, "other"); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), `"proj"`) {
		t.Fatalf("re-init with another name: %v", err)
	}
	if _, err := Init(filepath.Join(dir, "x"), "bad name"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused init made its folder: %v", err)
	}

	deep := filepath.Join(res.Root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, start := range []string{res.Root, deep} {
		if got, err := FindRoot(start); err != nil || got != res.Root {
			t.Fatalf("FindRoot(%s) = %q, %v", start, got, err)
		}
	}
	// A nested project wins over the outer one.
	inner, err := Init(filepath.Join(res.Root, "a"), "inner")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := FindRoot(deep); got != inner.Root {
		t.Fatalf("nested: %q", got)
	}
	// Working directory walk.
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	if err := os.Chdir(deep); err != nil {
		t.Fatal(err)
	}
	if got, err := FindRoot(""); err != nil || got != inner.Root {
		t.Fatalf("FindRoot(cwd) = %q, %v", got, err)
	}
	outside := t.TempDir()
	if _, err := FindRoot(outside); !errors.Is(err, ErrNotInitialized) || !strings.Contains(err.Error(), outside) {
		t.Fatalf("outside: %v", err)
	}
	// A folder named pocketdock.yaml is no config.
	fake := filepath.Join(outside, DirName, ConfigName)
	os.MkdirAll(fake, 0o755)
	if _, err := FindRoot(outside); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("directory as config: %v", err)
	}
}

func TestInstanceAndHistory(t *testing.T) {
	root := t.TempDir()
	created := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	in := Instance{ID: strings.Repeat("ab", 32), Name: "c1", Image: "pocketdock/busybox", Created: created, Persist: true, Project: "p", StateRoot: "/tmp/r"}
	dir, err := WriteInstance(root, in)
	if err != nil {
		t.Fatal(err)
	}
	if dir != InstanceDir(root, "c1") {
		t.Fatalf("dir %s", dir)
	}
	got, err := ReadInstance(root, "c1")
	if err != nil || got != in {
		t.Fatalf("read: %+v %v", got, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, InstanceFile))
	if !strings.Contains(string(data), `name = "c1"`) || !strings.Contains(string(data), "persist = true") {
		t.Fatalf("instance.toml:\n%s", data)
	}
	if fi, err := os.Stat(LogsDir(dir)); err != nil || !fi.IsDir() {
		t.Fatalf("logs dir: %v", err)
	}
	if _, err := WriteInstance(root, Instance{Name: "../x"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad name: %v", err)
	}

	h, err := ReadHistory(root, "c1", 0)
	if err != nil || len(h) != 0 {
		t.Fatalf("empty history: %v %v", h, err)
	}
	t0 := time.Date(2026, 11, 29, 10, 0, 1, 123456789, time.UTC)
	for i, code := range []int{0, 3, -1} {
		e := HistoryEntry{Time: t0.Add(time.Duration(i) * time.Second), Command: fmt.Sprintf("cmd %d", i), ExitCode: code, DurationMS: 1.5, TimedOut: code == -1}
		if err := AppendHistory(root, "c1", e); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, HistoryFile))
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 3 || lines[0] != `{"time":"2026-11-29T10:00:01.123456789Z","command":"cmd 0","exit_code":0,"duration_ms":1.5,"timed_out":false}` {
		t.Fatalf("history.jsonl:\n%s", raw)
	}
	// A torn line is skipped.
	f, _ := os.OpenFile(filepath.Join(dir, HistoryFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-`)
	f.Close()
	h, err = ReadHistory(root, "c1", 2)
	if err != nil || len(h) != 2 || h[0].ExitCode != 3 || h[1].ExitCode != -1 || !h[1].TimedOut || !h[0].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("last 2: %+v %v", h, err)
	}
	// Long commands are cut.
	AppendHistory(root, "c1", HistoryEntry{Time: t0, Command: strings.Repeat("é", 5000)})
	h, _ = ReadHistory(root, "c1", 1)
	if len(h[0].Command) > MaxHistoryCommand || !strings.HasSuffix(h[0].Command, "…") {
		t.Fatalf("long command: %d bytes", len(h[0].Command))
	}

	// Concurrent appends never interleave.
	WriteInstance(root, Instance{Name: "c2"})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			AppendHistory(root, "c2", HistoryEntry{Time: t0, Command: strings.Repeat(fmt.Sprint(i%10), 3000), ExitCode: i})
		}(i)
	}
	wg.Wait()
	h, err = ReadHistory(root, "c2", 0)
	if err != nil || len(h) != 20 {
		t.Fatalf("concurrent: %d entries, %v", len(h), err)
	}

	all, err := ReadProjectHistory(root, 0)
	if err != nil || len(all) != 24 || all[0].Instance == "" {
		t.Fatalf("project history: %d %v", len(all), err)
	}
	list, err := ListInstances(root)
	if err != nil || len(list) != 2 || list[0].Name != "c1" || list[0].Err != nil {
		t.Fatalf("list: %+v %v", list, err)
	}
	// Rewriting an instance replaces the old directory.
	if _, err := WriteInstance(root, Instance{Name: "c1", ID: "new"}); err != nil {
		t.Fatal(err)
	}
	if h, _ := ReadHistory(root, "c1", 0); len(h) != 0 {
		t.Fatalf("replaced instance kept %d history lines", len(h))
	}
	if err := RemoveInstance(root, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveInstance(root, "c1"); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if list, _ := ListInstances(root); len(list) != 1 {
		t.Fatalf("after remove: %+v", list)
	}
	ents, _ := os.ReadDir(InstancesDir(root))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("temp dir left: %s", e.Name())
		}
	}
}

func TestLogRetention(t *testing.T) {
	root := t.TempDir()
	dir := InstanceDir(root, "i")
	now := time.Now()
	lim := LogLimits{MaxSize: 1024, MaxFiles: 3, Retention: 48 * time.Hour}
	mk := func(name string, age time.Duration) {
		p := filepath.Join(LogsDir(dir), name)
		os.MkdirAll(LogsDir(dir), 0o755)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := now.Add(-age)
		os.Chtimes(p, mt, mt)
	}
	mk("old.log", 72*time.Hour)
	mk("a.log", 4*time.Hour)
	mk("b.log", 3*time.Hour)
	mk("c.log", 2*time.Hour)
	mk("d.log", 1*time.Hour)
	removed, err := PruneLogs(root, "i", lim, now, "a.log")
	if err != nil {
		t.Fatal(err)
	}
	// old.log by age; then one beyond 3 files: a.log is kept (in use), so b.log goes.
	if strings.Join(removed, ",") != "old.log,b.log" {
		t.Fatalf("removed %v", removed)
	}
	files, _ := ListLogs(root, "i")
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "a.log,c.log,d.log" {
		t.Fatalf("left %v", names)
	}
	// Retention 0 keeps old files.
	mk("ancient.log", 1000*time.Hour)
	if removed, _ := PruneLogs(root, "i", LogLimits{MaxFiles: 10}, now); len(removed) != 0 {
		t.Fatalf("retention 0 removed %v", removed)
	}

	// WriteLog keeps the tail and prunes.
	big := strings.Repeat("x", 3000) + "END"
	if err := WriteLog(root, "i", "job-1-aaaaaaaa.log", []byte(big), lim); err != nil {
		t.Fatal(err)
	}
	data, _ := ReadLog(root, "i", "job-1-aaaaaaaa.log")
	if !strings.HasSuffix(string(data), "END") || !strings.HasPrefix(string(data), "[pocketdock: the first 1979 bytes were cut") {
		t.Fatalf("tail: %.80q", data)
	}
	if files, _ := ListLogs(root, "i"); len(files) != 3 {
		t.Fatalf("after WriteLog: %d files", len(files))
	}
	if err := WriteLog(root, "i", "../escape", nil, lim); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad log name: %v", err)
	}
}

func TestLogWriterRotates(t *testing.T) {
	root := t.TempDir()
	w, err := NewLogWriter(root, "i", "session", LogLimits{MaxSize: 1024, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	first := w.Name()
	if !strings.HasPrefix(first, "session-") || !strings.HasSuffix(first, ".log") {
		t.Fatalf("name %q", first)
	}
	// 5000 bytes = 5 files of at most 1024 bytes; only the last 3 stay.
	for i := 0; i < 50; i++ {
		if n, err := w.Write([]byte(strings.Repeat(fmt.Sprint(i%10), 100))); n != 100 || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after close succeeded")
	}
	files, _ := ListLogs(root, "i")
	if len(files) != 3 {
		t.Fatalf("files: %+v", files)
	}
	var total int64
	for _, f := range files {
		if f.Size > 1024 {
			t.Fatalf("%s has %d bytes", f.Name, f.Size)
		}
		total += f.Size
	}
	last := files[len(files)-1]
	data, _ := os.ReadFile(last.Path)
	if !strings.HasSuffix(string(data), strings.Repeat("9", 100)) || total != 5000-2*1024 {
		t.Fatalf("last file %s (%d bytes total)", last.Name, total)
	}
	if _, err := NewLogWriter(root, "i", "../x", LogLimits{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad kind: %v", err)
	}
}

// TestSymlinksStayInside: the project folder belongs to its owner, who may
// plant symbolic links; pocketdock (root) must never write or remove
// anything outside the project root through them.
func TestSymlinksStayInside(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	victim := filepath.Join(outside, "c1")
	os.MkdirAll(victim, 0o755)
	os.WriteFile(filepath.Join(victim, "precious"), []byte("x"), 0o644)
	secret := filepath.Join(outside, "secret")
	os.WriteFile(secret, []byte("s\n"), 0o644)

	// instances/ itself a link to outside: nothing outside is made or removed.
	os.MkdirAll(filepath.Join(root, DirName), 0o755)
	if err := os.Symlink(outside, InstancesDir(root)); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteInstance(root, Instance{Name: "c1"}); err == nil {
		t.Fatal("WriteInstance through a link to outside succeeded")
	}
	RemoveInstance(root, "c1")
	if _, err := os.Stat(filepath.Join(victim, "precious")); err != nil {
		t.Fatalf("a file outside the project was removed: %v", err)
	}
	if err := AppendHistory(root, "c1", HistoryEntry{Command: "x"}); err == nil {
		t.Fatal("AppendHistory through a link to outside succeeded")
	}
	if _, err := os.Stat(filepath.Join(victim, HistoryFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("history written outside: %v", err)
	}

	// history.jsonl and a log file as links to a file outside.
	os.Remove(InstancesDir(root))
	if _, err := WriteInstance(root, Instance{Name: "c2"}); err != nil {
		t.Fatal(err)
	}
	hist := filepath.Join(InstanceDir(root, "c2"), HistoryFile)
	os.Remove(hist)
	os.Symlink(secret, hist)
	if err := AppendHistory(root, "c2", HistoryEntry{Command: "x"}); err == nil {
		t.Fatal("AppendHistory through a linked history.jsonl succeeded")
	}
	logLink := filepath.Join(LogsDir(InstanceDir(root, "c2")), "a.log")
	os.Symlink("../../../../../"+filepath.Base(outside)+"/secret", logLink)
	if _, err := ReadLog(root, "c2", "a.log"); err == nil {
		t.Fatal("ReadLog followed a link out of the project")
	}
	if err := WriteLog(root, "c2", "a.log", []byte("overwrite"), LogLimits{MaxSize: 1024, MaxFiles: 10}); err != nil {
		t.Fatalf("WriteLog over a link (replaces the link): %v", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "s\n" {
		t.Fatalf("a file outside the project was changed: %q", b)
	}
}

// TestOwnership: run as root (sudo) in a user's project folder, pocketdock
// gives what it makes to the folder's owner, who can then delete it.
func TestOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it changes file owners")
	}
	root := filepath.Join(t.TempDir(), "p")
	os.MkdirAll(root, 0o755)
	if err := os.Chown(root, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(root, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteInstance(root, Instance{Name: "c"}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(InstanceDir(root, "c"), HistoryFile))
	if err := AppendHistory(root, "c", HistoryEntry{Command: "x"}); err != nil {
		t.Fatal(err)
	}
	w, err := NewLogWriter(root, "c", "session", LogLimits{MaxSize: 1024, MaxFiles: 5})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := WriteLog(root, "c", "job-1-x.log", []byte("x"), LogLimits{MaxSize: 1024, MaxFiles: 5}); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(filepath.Join(root, DirName), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("%s is owned by %d:%d, want the project owner 1000:1000", p, st.Uid, st.Gid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
