// Package project keeps pocketdock projects on disk: the project config
// <root>/.pocketdock/pocketdock.yaml, and one instance directory per
// container of the project, <root>/.pocketdock/instances/<name>/ with
// instance.toml (metadata), history.jsonl (one JSON line per run) and logs/
// (session and detached-job output, within the config's size, count and
// retention limits).
//
// It never imports the root package, cmd or the runtime: it is plain file
// handling, and the root package wires it to containers.
package project

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
)

// Names of the project's files and folders.
const (
	// DirName is the project folder below the project root.
	DirName = ".pocketdock"
	// ConfigName is the config file in DirName.
	ConfigName = "pocketdock.yaml"
	// InstancesName is the folder of instance directories in DirName.
	InstancesName = "instances"
)

// Defaults of the config fields (used for fields the file leaves out).
const (
	// DefaultAutoLog: session and detached-job output is written to logs/.
	DefaultAutoLog = true
	// DefaultMaxLogSize is the largest log file before it is rotated: 10 MiB
	// (docker/go-units binary form; "10MB" means 10 × 1024 × 1024 bytes).
	DefaultMaxLogSize = "10MB"
	// DefaultMaxLogsPerInstance is how many log files an instance keeps.
	DefaultMaxLogsPerInstance = 100
	// DefaultRetentionDays is how long log files are kept (by modification time).
	DefaultRetentionDays = 30
	// DefaultLogLevel is the log level of pocketdock inside the project.
	DefaultLogLevel = "info"
	// MinLogSize is the smallest max_log_size allowed: 1 KiB.
	MinLogSize = 1024
)

// ErrNotInitialized is returned when no project config is found
// (FindRoot, Load). The root package re-exports it as ErrProjectNotInitialized.
var ErrNotInitialized = errors.New("project not initialized")

// ErrInvalidConfig is wrapped by every ConfigError: a bad value in the
// project config or in Init's arguments. The root package adds its
// ErrInvalidArgument to it.
var ErrInvalidConfig = errors.New("invalid project config")

// ConfigError names one bad value of a project config and what is allowed.
// It unwraps to ErrInvalidConfig.
type ConfigError struct {
	// File is the config file ("" when the value came from an argument).
	File string
	// Field is the YAML key (project_name, max_log_size, …).
	Field string
	// Value is the bad value as given.
	Value string
	// Allowed says what the field accepts.
	Allowed string
}

// Error reads "project config F: FIELD "VALUE": want ALLOWED".
func (e *ConfigError) Error() string {
	where := "project config"
	if e.File != "" {
		where += " " + e.File
	}
	return fmt.Sprintf("%s: %s %q: want %s", where, e.Field, e.Value, e.Allowed)
}

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Config is the project config, .pocketdock/pocketdock.yaml. Precedence
// (API.md): an explicit argument beats the environment, which beats the
// project config, which beats the defaults.
type Config struct {
	// ProjectName names the project; containers created inside it carry
	// it (Options.Project). Same form as a container name:
	// ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$. Default: the root folder's name.
	ProjectName string `yaml:"project_name" json:"project_name"`
	// DefaultProfile is the image profile of containers created in the
	// project when they name neither an image nor a profile ("" = none):
	// lowercase letters, digits, '.', '_' and '-'.
	DefaultProfile string `yaml:"default_profile" json:"default_profile"`
	// DefaultPersist makes containers created in the project persistent
	// when the options leave Persist false.
	DefaultPersist bool `yaml:"default_persist" json:"default_persist"`
	// AutoLog writes session and detached-job output to each instance's
	// logs/ folder. Default true.
	AutoLog bool `yaml:"auto_log" json:"auto_log"`
	// MaxLogSize caps one log file ("10MB", "512k": docker/go-units, binary
	// units), at least 1 KiB; a session log rotates to a new file there,
	// a job log keeps its last MaxLogSize bytes. Default 10MB.
	MaxLogSize string `yaml:"max_log_size" json:"max_log_size"`
	// MaxLogsPerInstance is how many log files an instance keeps; the
	// oldest go first. At least 1; default 100.
	MaxLogsPerInstance int `yaml:"max_logs_per_instance" json:"max_logs_per_instance"`
	// RetentionDays removes log files older than this many days (by
	// modification time); 0 keeps them. Default 30.
	RetentionDays int `yaml:"retention_days" json:"retention_days"`
	// LogLevel is the level of the CLI's log on stderr inside the project:
	// "debug", "info", "warn" or "error" (-v still means debug). Default "info".
	LogLevel string `yaml:"log_level" json:"log_level"`
}

// Default returns the config with every default and project name name.
func Default(name string) Config {
	return Config{
		ProjectName:        name,
		AutoLog:            DefaultAutoLog,
		MaxLogSize:         DefaultMaxLogSize,
		MaxLogsPerInstance: DefaultMaxLogsPerInstance,
		RetentionDays:      DefaultRetentionDays,
		LogLevel:           DefaultLogLevel,
	}
}

var (
	nameRE    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)
	profileRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
)

// ValidName reports whether name fits ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$
// (project and instance names; such a name never holds a path separator
// and never is "." or "..").
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Validate checks every field and returns a *ConfigError for the first bad one.
func (c Config) Validate() error {
	bad := func(field, value, allowed string) error {
		return &ConfigError{Field: field, Value: value, Allowed: allowed}
	}
	if !ValidName(c.ProjectName) {
		return bad("project_name", c.ProjectName, "1 to 63 characters of [a-zA-Z0-9_.-], starting with a letter or digit")
	}
	if c.DefaultProfile != "" && !profileRE.MatchString(c.DefaultProfile) {
		return bad("default_profile", c.DefaultProfile, `a profile name such as "minimal-python" ([a-z0-9._-]), or empty for none`)
	}
	if _, err := c.MaxLogBytes(); err != nil {
		return err
	}
	if c.MaxLogsPerInstance < 1 {
		return bad("max_logs_per_instance", fmt.Sprint(c.MaxLogsPerInstance), "a whole number of at least 1")
	}
	if c.RetentionDays < 0 {
		return bad("retention_days", fmt.Sprint(c.RetentionDays), "a whole number of days, 0 (keep logs) or more")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", c.LogLevel, `"debug", "info", "warn" or "error"`)
	}
	return nil
}

// MaxLogBytes returns MaxLogSize in bytes (binary units: "10MB" = 10 MiB).
// A *ConfigError when it does not parse or is below MinLogSize.
func (c Config) MaxLogBytes() (int64, error) {
	n, err := units.RAMInBytes(c.MaxLogSize)
	if err != nil || n < MinLogSize {
		return 0, &ConfigError{Field: "max_log_size", Value: c.MaxLogSize, Allowed: `a size of at least 1KB such as "512KB", "10MB" or "1GB" (binary units)`}
	}
	return n, nil
}

// Limits returns the log limits of a valid config (MaxLogSize unparsable: the default).
func (c Config) Limits() LogLimits {
	n, err := c.MaxLogBytes()
	if err != nil {
		n, _ = units.RAMInBytes(DefaultMaxLogSize)
	}
	return LogLimits{MaxSize: n, MaxFiles: c.MaxLogsPerInstance, Retention: time.Duration(c.RetentionDays) * 24 * time.Hour}
}

// ConfigPath is the config file of project root root.
func ConfigPath(root string) string { return filepath.Join(root, DirName, ConfigName) }

// Parse reads a config from YAML. Fields left out get their defaults
// (project_name: defaultName); unknown fields and bad values are a
// *ConfigError (file names the source in its text).
func Parse(data []byte, file, defaultName string) (Config, error) {
	c := Default(defaultName)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, &ConfigError{File: file, Field: "YAML", Value: yamlProblem(err),
			Allowed: "a YAML mapping of project_name, default_profile, default_persist, auto_log, max_log_size, max_logs_per_instance, retention_days, log_level"}
	}
	if err := c.Validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = file
		}
		return Config{}, err
	}
	return c, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Load reads and validates the config of project root root.
// ErrNotInitialized (wrapped) when the file is missing.
func Load(root string) (Config, error) {
	file := ConfigPath(root)
	var data []byte
	r, err := openRoot(root)
	if err == nil {
		data, err = r.ReadFile(filepath.Join(DirName, ConfigName))
		r.Close()
	}
	if errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf("%w: no %s", ErrNotInitialized, file)
	}
	if err != nil {
		return Config{}, err
	}
	return Parse(data, file, NameFromPath(root))
}

// Marshal renders c as the YAML of a config file, with a comment per field.
func (c Config) Marshal() []byte {
	q := func(s string) string {
		b, _ := yaml.Marshal(s)
		return strings.TrimSpace(string(b))
	}
	var b strings.Builder
	b.WriteString("# pocketdock project config (pocketdock init). Precedence: command-line\n")
	b.WriteString("# arguments > environment > this file > defaults.\n")
	fmt.Fprintf(&b, "# Containers created in this folder (or below) join the project.\nproject_name: %s\n", q(c.ProjectName))
	fmt.Fprintf(&b, "# Image profile when a create names neither image nor profile (\"\" = none).\ndefault_profile: %s\n", q(c.DefaultProfile))
	fmt.Fprintf(&b, "# Containers persist (shutdown only stops them) unless told otherwise.\ndefault_persist: %v\n", c.DefaultPersist)
	fmt.Fprintf(&b, "# Write session and detached-job output to .pocketdock/instances/<name>/logs/.\nauto_log: %v\n", c.AutoLog)
	fmt.Fprintf(&b, "# Largest log file (binary units: 10MB = 10 MiB); a session log rotates there.\nmax_log_size: %s\n", q(c.MaxLogSize))
	fmt.Fprintf(&b, "# Log files kept per instance (oldest removed first).\nmax_logs_per_instance: %d\n", c.MaxLogsPerInstance)
	fmt.Fprintf(&b, "# Log files older than this many days are removed (0 = keep).\nretention_days: %d\n", c.RetentionDays)
	fmt.Fprintf(&b, "# debug, info, warn or error.\nlog_level: %s\n", q(c.LogLevel))
	return []byte(b.String())
}

// NameFromPath turns a folder's base name into a valid project name:
// characters outside [a-zA-Z0-9_.-] become '-', a leading '.', '_' or '-'
// is dropped, and the result is cut to 63 characters ("project" if
// nothing is left).
func NameFromPath(path string) string {
	base := filepath.Base(filepath.Clean(path))
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.TrimLeft(b.String(), "._-")
	if len(name) > 63 {
		name = name[:63]
	}
	if name == "" {
		return "project"
	}
	return name
}
