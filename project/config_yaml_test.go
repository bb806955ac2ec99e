package project

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config the YAML decoder refuses is named with what is wrong and where
// (it used to say only "unmarshal errors:").
func TestParseNamesYAMLProblems(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"project_name: x\nbogus_key: 1\n", "line 2: unknown key bogus_key"},
		{"project_name: x\ndefault_persist: maybe\n", "line 2: cannot unmarshal !!str `maybe` into bool"},
		{"project_name: x\nretention_days: abc\n", "line 2: cannot unmarshal !!str `abc` into int"},
		{"project_name: x\nproject_name: y\n", "already defined at line 1"},
		{"[1, 2]\n", "cannot unmarshal !!seq"},
		{"project_name: [\n", "did not find expected node content"},
	} {
		_, err := Parse([]byte(c.yaml), "/p/.pocketdock/pocketdock.yaml", "p")
		var ce *ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%q: error %v, want a *ConfigError", c.yaml, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "/p/.pocketdock/pocketdock.yaml") {
			t.Errorf("%q: error %q, want it to name the file and say %q", c.yaml, err, c.want)
		}
	}
}

// init on a path that is a file is a *ConfigError naming it (it used to be
// an untyped "open …: not a directory").
func TestInitOnAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Init(f, "")
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), f) || !strings.Contains(err.Error(), "file") {
		t.Fatalf("Init on a file: %v; want a ConfigError naming it", err)
	}
	if data, _ := os.ReadFile(f); string(data) != "x" {
		t.Errorf("the file changed: %q", data)
	}
}

// A history line longer than 1 MiB (garbage: written lines are short) is
// skipped instead of making the whole history unreadable ("token too long").
func TestReadHistorySkipsHugeLines(t *testing.T) {
	root := t.TempDir()
	if _, err := Init(root, "p"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, DirName, InstancesName, "box"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := `{"time":"2026-01-02T03:04:05Z","command":"echo hi","exit_code":3}`
	data := good + "\n" + strings.Repeat("x", 3<<20) + "\n" + good + "\n" + strings.Repeat("y", 2<<20)
	if err := os.WriteFile(filepath.Join(root, DirName, InstancesName, "box", HistoryFile), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHistory(root, "box", 0)
	if err != nil || len(h) != 2 || h[1].ExitCode != 3 {
		t.Fatalf("history: %+v %v, want the two good lines", h, err)
	}
}
