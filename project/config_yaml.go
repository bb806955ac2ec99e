package project

import (
	"errors"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlProblem says what is wrong in a config the YAML decoder refused: every
// problem of a *yaml.TypeError with its line ("line 2: unknown key
// bogus_key; line 3: cannot unmarshal !!str `maybe` into bool"), else the
// decoder's message without its "yaml: " prefix, first line only. A
// TypeError's own text is only "yaml: unmarshal errors:" on its first line.
func yamlProblem(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			if k, ok := strings.CutPrefix(m, "field "); ok {
				if i := strings.Index(k, " not found in type "); i >= 0 {
					m = "unknown key " + k[:i]
				}
			}
			if line, rest, ok := strings.Cut(m, ": field "); ok {
				if i := strings.Index(rest, " not found in type "); i >= 0 {
					m = line + ": unknown key " + rest[:i]
				}
			}
			msgs[i] = m
		}
		return strings.Join(msgs, "; ")
	}
	return firstLine(strings.TrimPrefix(err.Error(), "yaml: "))
}

// fileKind names what a non-folder path is, for messages.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m&os.ModeDevice != 0:
		return "device"
	case m&os.ModeNamedPipe != 0:
		return "fifo"
	case m&os.ModeSocket != 0:
		return "socket"
	}
	return "non-folder"
}
