package project

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"
)

// Files of an instance directory.
const (
	// InstanceFile holds the instance's metadata (TOML).
	InstanceFile = "instance.toml"
	// HistoryFile holds one JSON line per run.
	HistoryFile = "history.jsonl"
	// LogsName is the folder of session and detached-job logs.
	LogsName = "logs"
)

// MaxHistoryCommand is the longest command text a history line keeps, in
// bytes; a longer one is cut and ends in "…".
const MaxHistoryCommand = 4096

// Instance is the metadata of one container of a project, instance.toml.
type Instance struct {
	// ID is the container ID (64 hex).
	ID string `toml:"id"`
	// Name is the container name (also the instance directory's name).
	Name string `toml:"name"`
	// Image is the image reference the container was created from.
	Image string `toml:"image"`
	// Created is when the container was created (UTC).
	Created time.Time `toml:"created"`
	// Persist: shutdown only stops the container.
	Persist bool `toml:"persist"`
	// Profile is the image profile ("" = none).
	Profile string `toml:"profile,omitempty"`
	// Project is the project name.
	Project string `toml:"project"`
	// StateRoot names the pocketdock state root holding the container
	// ("default" for /var/lib/pocketdock, else the root's path).
	StateRoot string `toml:"state_root"`
}

// InstancesDir is the folder of instance directories of project root root.
func InstancesDir(root string) string { return filepath.Join(root, DirName, InstancesName) }

// InstanceDir is the instance directory of container name in project root
// root. It does not check name; the functions that use it do.
func InstanceDir(root, name string) string { return filepath.Join(InstancesDir(root), name) }

func badInstanceName(name string) error {
	return &ConfigError{Field: "instance name", Value: name, Allowed: "a container name: 1 to 63 characters of [a-zA-Z0-9_.-], starting with a letter or digit"}
}

// openInstance opens project root root (confined, see openRoot) after
// checking the instance name.
func openInstance(root, name string) (*os.Root, error) {
	if !ValidName(name) {
		return nil, badInstanceName(name)
	}
	return openRoot(root)
}

// WriteInstance makes the instance directory of in.Name in project root
// root — instance.toml, an empty history.jsonl and logs/ — and returns its
// path. An existing directory of that name (a container of the same name
// that is gone) is replaced. The new directory appears whole: it is built
// under a dot-name and renamed into place. Every path is resolved inside
// the project root (os.Root): no symbolic link leads outside it.
func WriteInstance(root string, in Instance) (string, error) {
	r, err := openInstance(root, in.Name)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if err := r.MkdirAll(rel(""), 0o755); err != nil {
		return "", err
	}
	var rb [6]byte
	rand.Read(rb[:])
	tmp := rel(".new-" + in.Name + "-" + hex.EncodeToString(rb[:]))
	if err := r.Mkdir(tmp, 0o755); err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			r.RemoveAll(tmp)
		}
	}()
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(in); err != nil {
		return "", err
	}
	if err := r.WriteFile(filepath.Join(tmp, InstanceFile), buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	if err := r.WriteFile(filepath.Join(tmp, HistoryFile), nil, 0o644); err != nil {
		return "", err
	}
	if err := r.Mkdir(filepath.Join(tmp, LogsName), 0o755); err != nil {
		return "", err
	}
	own(r, rel(""), tmp, filepath.Join(tmp, InstanceFile), filepath.Join(tmp, HistoryFile), filepath.Join(tmp, LogsName))
	if err := r.RemoveAll(rel(in.Name)); err != nil {
		return "", err
	}
	if err := r.Rename(tmp, rel(in.Name)); err != nil {
		return "", err
	}
	ok = true
	return InstanceDir(root, in.Name), nil
}

// ReadInstance reads the instance.toml of instance name in project root root.
func ReadInstance(root, name string) (Instance, error) {
	var in Instance
	r, err := openInstance(root, name)
	if err != nil {
		return in, err
	}
	defer r.Close()
	data, err := r.ReadFile(rel(name, InstanceFile))
	if err != nil {
		return in, err
	}
	if _, err := toml.Decode(string(data), &in); err != nil {
		return in, fmt.Errorf("%s: %w", filepath.Join(InstanceDir(root, name), InstanceFile), err)
	}
	return in, nil
}

// RemoveInstance removes the instance directory of name in project root
// root (confined to the project root); a missing one is no error.
func RemoveInstance(root, name string) error {
	r, err := openInstance(root, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil // the project folder is gone
	}
	if err != nil {
		return err
	}
	defer r.Close()
	return r.RemoveAll(rel(name))
}

// InstanceEntry is one instance directory found by ListInstances.
type InstanceEntry struct {
	// Name is the directory's name (the container name).
	Name string
	// Dir is its path.
	Dir string
	// Instance is its instance.toml; zero when Err is set.
	Instance Instance
	// Err is why instance.toml could not be read (nil when it was).
	Err error
}

// ListInstances lists the instance directories of project root root by
// name. Entries starting with '.' (directories being made) and names that
// are no container names are skipped. A project without instances/ has none.
func ListInstances(root string) ([]InstanceEntry, error) {
	r, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ents, err := readDir(r, rel(""))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []InstanceEntry
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || !ValidName(e.Name()) {
			continue
		}
		in, err := ReadInstance(root, e.Name())
		out = append(out, InstanceEntry{Name: e.Name(), Dir: InstanceDir(root, e.Name()), Instance: in, Err: err})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// readDir lists folder dir below r.
func readDir(r *os.Root, dir string) ([]os.DirEntry, error) {
	f, err := r.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// HistoryEntry is one line of history.jsonl: one run of a command.
type HistoryEntry struct {
	// Time is when the run started (RFC 3339 with nanoseconds in JSON).
	Time time.Time `json:"time"`
	// Command is the command text (shell text for Run, shell-quoted argv
	// for Exec), at most MaxHistoryCommand bytes.
	Command string `json:"command"`
	// ExitCode is the exit code; -1 when the run timed out.
	ExitCode int `json:"exit_code"`
	// DurationMS is the run's wall time in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// TimedOut: the run's timeout ended it.
	TimedOut bool `json:"timed_out"`
	// Instance is the instance (container) name; filled by ReadProjectHistory, never stored.
	Instance string `json:"instance,omitempty"`
}

// AppendHistory appends e as one JSON line to the history.jsonl of
// instance name in project root root. The line goes out in one write
// under an exclusive flock, so concurrent runs of several processes never
// interleave, and starts on a new line when a crashed writer left a torn
// one. A missing instance directory is an error (the instance is gone);
// the file itself is created when missing.
func AppendHistory(root, name string, e HistoryEntry) error {
	e.Instance = ""
	e.Time = e.Time.UTC()
	if len(e.Command) > MaxHistoryCommand {
		cut := MaxHistoryCommand - len("…")
		for cut > 0 && !utf8.RuneStart(e.Command[cut]) {
			cut--
		}
		e.Command = e.Command[:cut] + "…"
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	r, err := openInstance(root, name)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := r.OpenFile(rel(name, HistoryFile), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() == 0 {
		own(r, rel(name, HistoryFile)) // made here (or emptied): the owner's
	}
	if err == nil && fi.Size() > 0 {
		var last [1]byte
		if _, err := unix.Pread(int(f.Fd()), last[:], fi.Size()-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	_, err = f.Write(line)
	return err
}

// ReadHistory returns the last limit entries (limit <= 0: all) of the
// history of instance name in project root root, oldest first. Lines that
// are not valid JSON (a torn write of a crashed process) or longer than
// 1 MiB (garbage: a written line is far shorter) are skipped. A
// missing file is an empty history.
func ReadHistory(root, name string, limit int) ([]HistoryEntry, error) {
	r, err := openInstance(root, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := r.Open(rel(name, HistoryFile))
	if errors.Is(err, os.ErrNotExist) {
		return []HistoryEntry{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := []HistoryEntry{}
	err = forEachLine(f, 1<<20, func(line []byte) {
		var e HistoryEntry
		if err := json.Unmarshal(line, &e); err == nil {
			out = append(out, e)
		}
	})
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// ReadProjectHistory returns the history of every instance of project
// root root, merged by time (oldest first), each entry's Instance set; the
// last limit entries (limit <= 0: all).
func ReadProjectHistory(root string, limit int) ([]HistoryEntry, error) {
	list, err := ListInstances(root)
	if err != nil {
		return nil, err
	}
	all := []HistoryEntry{}
	for _, in := range list {
		h, err := ReadHistory(root, in.Name, 0)
		if err != nil {
			return nil, err
		}
		for i := range h {
			h[i].Instance = in.Name
		}
		all = append(all, h...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	if limit > 0 && len(all) > limit {
		all = all[len(all)-limit:]
	}
	return all, nil
}
