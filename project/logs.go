package project

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// LogLimits bound an instance's logs/ folder (Config.Limits).
type LogLimits struct {
	// MaxSize is the largest log file in bytes (at least MinLogSize).
	MaxSize int64
	// MaxFiles is how many log files are kept; the oldest go first.
	MaxFiles int
	// Retention removes files last modified longer ago (0 = keep).
	Retention time.Duration
}

// LogFile is one file of an instance's logs/ folder.
type LogFile struct {
	// Name is the file name ("session-….log", "job-3-1a2b3c4d.log").
	Name string `json:"name"`
	// Path is its full path.
	Path string `json:"path"`
	// Size is its size in bytes.
	Size int64 `json:"size"`
	// ModTime is its last modification.
	ModTime time.Time `json:"mod_time"`
}

// LogsDir is the logs/ folder of instance directory dir.
func LogsDir(dir string) string { return filepath.Join(dir, LogsName) }

// ListLogs lists the log files of instance name in project root root,
// oldest first (by modification time, then name). Dot-files and anything
// but regular files are skipped; a missing folder has none.
func ListLogs(root, name string) ([]LogFile, error) {
	r, err := openInstance(root, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return listLogs(r, root, name)
}

func listLogs(r *os.Root, root, name string) ([]LogFile, error) {
	ents, err := readDir(r, rel(name, LogsName))
	if errors.Is(err, os.ErrNotExist) {
		return []LogFile{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []LogFile{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, LogFile{Name: e.Name(), Path: filepath.Join(LogsDir(InstanceDir(root, name)), e.Name()), Size: fi.Size(), ModTime: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].ModTime.Equal(out[j].ModTime) {
			return out[i].ModTime.Before(out[j].ModTime)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// ReadLog returns log file file of instance name in project root root
// (resolved inside the project root).
func ReadLog(root, name, file string) ([]byte, error) {
	if !plainName(file) {
		return nil, badLogName(file)
	}
	r, err := openInstance(root, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadFile(rel(name, LogsName, file))
}

func plainName(file string) bool {
	return file != "" && file == filepath.Base(file) && !strings.HasPrefix(file, ".")
}

func badLogName(file string) error {
	return &ConfigError{Field: "log file name", Value: file, Allowed: "a plain file name not starting with '.'"}
}

// PruneLogs applies lim to the logs/ of instance name in project root
// root: files last modified before now − Retention go, then the oldest
// beyond MaxFiles. Files named in keep (in use) are never removed. It
// returns the names removed.
func PruneLogs(root, name string, lim LogLimits, now time.Time, keep ...string) ([]string, error) {
	r, err := openInstance(root, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return pruneLogs(r, root, name, lim, now, keep...)
}

func pruneLogs(r *os.Root, root, name string, lim LogLimits, now time.Time, keep ...string) ([]string, error) {
	files, err := listLogs(r, root, name)
	if err != nil {
		return nil, err
	}
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	var removed []string
	var errs []error
	remove := func(f LogFile) {
		if err := r.Remove(rel(name, LogsName, f.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			return
		}
		removed = append(removed, f.Name)
	}
	var left []LogFile
	for _, f := range files {
		if !kept[f.Name] && lim.Retention > 0 && f.ModTime.Before(now.Add(-lim.Retention)) {
			remove(f)
			continue
		}
		left = append(left, f)
	}
	if lim.MaxFiles > 0 {
		excess := len(left) - lim.MaxFiles
		for _, f := range left {
			if excess <= 0 {
				break
			}
			if kept[f.Name] {
				continue
			}
			remove(f)
			excess--
		}
	}
	return removed, errors.Join(errs...)
}

// WriteLog writes data as the whole log file file of instance name in
// project root root (replacing it), keeping only the last lim.MaxSize
// bytes when data is longer (the file then starts with a line saying how
// much was cut), then prunes the folder (PruneLogs). file must be a plain
// file name.
func WriteLog(root, name, file string, data []byte, lim LogLimits) error {
	if !plainName(file) {
		return badLogName(file)
	}
	if lim.MaxSize > 0 && int64(len(data)) > lim.MaxSize {
		cut := int64(len(data)) - lim.MaxSize
		note := fmt.Sprintf("[pocketdock: the first %d bytes were cut: max_log_size is %d bytes]\n", cut, lim.MaxSize)
		data = append([]byte(note), data[cut:]...)
	}
	r, err := openInstance(root, name)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.MkdirAll(rel(name, LogsName), 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(r, rel(name, LogsName, file), data, 0o644); err != nil {
		return err
	}
	own(r, rel(name, LogsName), rel(name, LogsName, file))
	_, err = pruneLogs(r, root, name, lim, time.Now(), file)
	return err
}

// LogWriter appends to a log of one instance, rotating to a new file when
// the current one would pass lim.MaxSize: the files are
// <kind>-<UTC time>-<4 hex>.log, then .1.log, .2.log, …. Each new file
// prunes the folder (PruneLogs, sparing the file in use). Files are
// opened inside the project root (os.Root). Safe for concurrent use.
type LogWriter struct {
	mu   sync.Mutex
	r    *os.Root
	root string
	inst string
	base string
	lim  LogLimits
	part int
	f    *os.File
	name string
	size int64
	err  error
}

// NewLogWriter opens a new log of kind ("session", …: [a-z0-9-]) of
// instance name in project root root under lim.
func NewLogWriter(root, name, kind string, lim LogLimits) (*LogWriter, error) {
	if kind == "" || strings.Trim(kind, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return nil, &ConfigError{Field: "log kind", Value: kind, Allowed: "lowercase letters, digits and '-'"}
	}
	if lim.MaxSize < 1 {
		lim.MaxSize = MinLogSize
	}
	r, err := openInstance(root, name)
	if err != nil {
		return nil, err
	}
	var rb [2]byte
	rand.Read(rb[:])
	w := &LogWriter{r: r, root: root, inst: name, lim: lim,
		base: kind + "-" + time.Now().UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(rb[:])}
	if err := w.open(); err != nil {
		r.Close()
		return nil, err
	}
	return w, nil
}

// Name is the file being written now.
func (w *LogWriter) Name() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.name
}

func (w *LogWriter) open() error {
	name := w.base + ".log"
	if w.part > 0 {
		name = fmt.Sprintf("%s.%d.log", w.base, w.part)
	}
	if err := w.r.MkdirAll(rel(w.inst, LogsName), 0o755); err != nil {
		return err
	}
	f, err := w.r.OpenFile(rel(w.inst, LogsName, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	own(w.r, rel(w.inst, LogsName), rel(w.inst, LogsName, name))
	w.f, w.name, w.size = f, name, 0
	// Pruning is best effort: a log that cannot drop old files still logs.
	pruneLogs(w.r, w.root, w.inst, w.lim, time.Now(), name) //nolint:errcheck
	return nil
}

// Write appends p, rotating as needed. After a failure every later call
// returns the same error.
func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.f == nil {
		return 0, os.ErrClosed
	}
	n := 0
	for len(p) > 0 {
		room := w.lim.MaxSize - w.size
		if room <= 0 {
			w.f.Close()
			w.part++
			if err := w.open(); err != nil {
				w.f, w.err = nil, err
				return n, err
			}
			continue
		}
		chunk := p
		if int64(len(chunk)) > room {
			chunk = chunk[:room]
		}
		m, err := w.f.Write(chunk)
		n += m
		w.size += int64(m)
		if err != nil {
			w.err = err
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// Close closes the current file. A second Close is no error.
func (w *LogWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.r == nil {
		return nil
	}
	var err error
	if w.f != nil {
		err = w.f.Close()
		w.f = nil
	}
	w.r.Close()
	w.r = nil
	return err
}

// StatLog returns the file info of log file file of instance name in
// project root root (resolved inside the project root, links not followed).
func StatLog(root, name, file string) (os.FileInfo, error) {
	if !plainName(file) {
		return nil, badLogName(file)
	}
	r, err := openInstance(root, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Lstat(rel(name, LogsName, file))
}
