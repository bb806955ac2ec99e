package build

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/pocketdock/pocketdock/image"
)

// Supported lists the Dockerfile instructions the builder runs, in the
// order of the Dockerfile reference.
var Supported = []string{"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY",
	"ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}

// InstructionError is a Dockerfile instruction the builder refuses: unknown,
// unsupported (ONBUILD, MAINTAINER, RUN --mount, heredocs, ADD of a git URL, …)
// or malformed. It is returned before any step runs and wraps
// image.ErrInvalidArgument.
type InstructionError struct {
	// File is the Dockerfile's name as given ("Dockerfile" for text).
	File string
	// Line is the 1-based line where the instruction starts (0 = unknown).
	Line int
	// Instruction is the instruction's keyword as written ("FOO", "RUN").
	Instruction string
	// Reason says what is wrong and what is allowed.
	Reason string
}

// Error says where (file and line), which instruction and why.
func (e *InstructionError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s line %d", e.File, e.Line)
	}
	if e.Instruction == "" {
		return fmt.Sprintf("%s: %s", where, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Instruction, e.Reason)
}

// Unwrap makes the error match image.ErrInvalidArgument.
func (e *InstructionError) Unwrap() error { return image.ErrInvalidArgument }

// step is one instruction of a stage, parsed and checked.
type step struct {
	line     int
	keyword  string // upper case
	original string // the instruction's text as written
	cmd      instructions.Command
}

// stage is one FROM and its steps.
type stage struct {
	index    int
	name     string // "" when unnamed (AS name, lower case)
	base     string // the FROM argument, unexpanded
	line     int
	original string
	steps    []step
}

// dockerfile is a parsed, checked Dockerfile.
type dockerfile struct {
	escape   rune
	metaArgs []instructions.ArgCommand
	stages   []*stage
}

// steps returns the total count of instructions (FROMs included), for the
// STEP n/N progress lines.
func (d *dockerfile) count() int {
	n := 0
	for _, s := range d.stages {
		n += 1 + len(s.steps)
	}
	return n
}

// parse parses a Dockerfile with buildkit's parser and checks every
// instruction before anything runs. file names the Dockerfile in errors.
// Errors: *InstructionError (wrapping image.ErrInvalidArgument).
func parse(file string, text []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(text))
	if err != nil {
		return nil, &InstructionError{File: file, Line: errLine(err), Reason: err.Error()}
	}
	d := &dockerfile{escape: res.EscapeToken}
	var cur *stage
	for _, n := range res.AST.Children {
		kw := strings.ToUpper(n.Value)
		bad := func(reason string, args ...any) error {
			return &InstructionError{File: file, Line: n.StartLine, Instruction: kw, Reason: fmt.Sprintf(reason, args...)}
		}
		switch strings.ToLower(n.Value) {
		case "onbuild", "maintainer":
			return nil, bad("not supported by pocketdock's builder (supported: %s)", strings.Join(Supported, ", "))
		}
		supported := false
		for _, s := range Supported {
			if s == kw {
				supported = true
			}
		}
		if !supported {
			return nil, bad("unknown instruction (supported: %s)", strings.Join(Supported, ", "))
		}
		v, err := instructions.ParseInstruction(n)
		if err != nil {
			var ue *instructions.UnknownInstructionError
			if errors.As(err, &ue) {
				return nil, bad("unknown instruction (supported: %s)", strings.Join(Supported, ", "))
			}
			return nil, bad("%v", err)
		}
		if st, ok := v.(*instructions.Stage); ok {
			if st.Platform != "" {
				return nil, bad("--platform is not supported (the build runs for this machine)")
			}
			if st.Name != "" {
				for _, o := range d.stages {
					if o.name == st.Name {
						return nil, bad("stage name %q is used twice (first on line %d)", st.Name, o.line)
					}
				}
			}
			cur = &stage{index: len(d.stages), name: st.Name, base: st.BaseName, line: n.StartLine, original: n.Original}
			d.stages = append(d.stages, cur)
			continue
		}
		if cur == nil {
			if a, ok := v.(*instructions.ArgCommand); ok {
				d.metaArgs = append(d.metaArgs, *a)
				continue
			}
			return nil, bad("comes before the first FROM (only ARG may)")
		}
		cmd, ok := v.(instructions.Command)
		if !ok {
			return nil, bad("not a build instruction")
		}
		if err := check(cmd, bad); err != nil {
			return nil, err
		}
		cur.steps = append(cur.steps, step{line: n.StartLine, keyword: kw, original: n.Original, cmd: cmd})
	}
	if len(d.stages) == 0 {
		return nil, &InstructionError{File: file, Reason: "no FROM instruction (a Dockerfile starts with FROM, after optional ARGs)"}
	}
	// COPY --from names an earlier stage (or is an image reference).
	for _, s := range d.stages {
		for _, st := range s.steps {
			if c, ok := st.cmd.(*instructions.CopyCommand); ok && c.From != "" {
				if idx, ok := d.stageIndex(c.From); ok && idx >= s.index {
					return nil, &InstructionError{File: file, Line: st.line, Instruction: st.keyword,
						Reason: fmt.Sprintf("--from=%s names this or a later stage (only earlier stages can be copied from)", c.From)}
				}
			}
		}
	}
	return d, nil
}

// stageIndex finds a stage by name (case-insensitive) or by its number.
func (d *dockerfile) stageIndex(name string) (int, bool) {
	for _, s := range d.stages {
		if s.name != "" && strings.EqualFold(s.name, name) {
			return s.index, true
		}
	}
	var i int
	if _, err := fmt.Sscanf(name, "%d", &i); err == nil && fmt.Sprint(i) == name && i >= 0 && i < len(d.stages) {
		return i, true
	}
	return 0, false
}

// check refuses the flags and forms the builder does not implement.
func check(cmd instructions.Command, bad func(string, ...any) error) error {
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		if len(c.FlagsUsed) > 0 {
			return bad("--%s is not supported (plain RUN only)", c.FlagsUsed[0])
		}
		if len(c.Files) > 0 {
			return bad("heredocs are not supported")
		}
	case *instructions.CmdCommand:
		if len(c.Files) > 0 {
			return bad("heredocs are not supported")
		}
	case *instructions.EntrypointCommand:
		if len(c.Files) > 0 {
			return bad("heredocs are not supported")
		}
	case *instructions.CopyCommand:
		if len(c.SourceContents) > 0 {
			return bad("heredocs are not supported")
		}
		if c.Parents {
			return bad("--parents is not supported")
		}
		if len(c.ExcludePatterns) > 0 {
			return bad("--exclude is not supported (use .dockerignore)")
		}
		if err := checkChmod(c.Chmod, bad); err != nil {
			return err
		}
	case *instructions.AddCommand:
		if len(c.SourceContents) > 0 {
			return bad("heredocs are not supported")
		}
		if len(c.ExcludePatterns) > 0 {
			return bad("--exclude is not supported (use .dockerignore)")
		}
		if c.KeepGitDir != nil {
			return bad("--keep-git-dir is not supported (no git sources)")
		}
		if c.Unpack != nil {
			return bad("--unpack is not supported (a local tar archive is always unpacked, a URL never)")
		}
		if err := checkRemoteAdd(c, bad); err != nil {
			return err
		}
		if err := checkChmod(c.Chmod, bad); err != nil {
			return err
		}
	}
	return nil
}

func checkChmod(s string, bad func(string, ...any) error) error {
	if s == "" {
		return nil
	}
	if _, err := parseMode(s); err != nil {
		return bad("--chmod=%s: want an octal mode such as 0644 or 755", s)
	}
	return nil
}

// isRemote reports whether an ADD source is a URL or a git reference.
func isRemote(s string) bool {
	l := strings.ToLower(s)
	for _, p := range []string{"http://", "https://", "git://", "git@", "ssh://"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// errLine returns the line a buildkit parse error points at (0 = unknown).
func errLine(err error) int {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return le.Locations[0][0].Start.Line
	}
	return 0
}
