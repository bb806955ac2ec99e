package build

import (
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// neededStages marks the stages the last one depends on, as BuildKit
// builds only the target's dependencies: a stage named by a later needed
// stage's FROM (expanded with the global ARGs, platform ARGs included) or
// COPY --from. A --from holding a variable, which only the stage's ARGs
// resolve, keeps every earlier stage.
func (b *builder) neededStages(meta map[string]string) []bool {
	d := b.d
	need := make([]bool, len(d.stages))
	need[len(d.stages)-1] = true
	env := shell.EnvsFromSlice(envOf(meta))
	for i := len(d.stages) - 1; i >= 0; i-- {
		if !need[i] {
			continue
		}
		s := d.stages[i]
		if base, _, err := b.lex.ProcessWord(s.base, env); err == nil {
			if idx, ok := d.stageIndex(base); ok && idx < i {
				need[idx] = true
			}
		}
		for _, sp := range s.steps {
			c, ok := sp.cmd.(*instructions.CopyCommand)
			if !ok || c.From == "" {
				continue
			}
			if strings.Contains(c.From, "$") {
				for j := 0; j < i; j++ {
					need[j] = true
				}
				continue
			}
			if idx, ok := d.stageIndex(c.From); ok && idx < i {
				need[idx] = true
			}
		}
	}
	return need
}

// label names a stage in progress lines: its name, else its number.
func (s *stage) label() string {
	if s.name != "" {
		return s.name
	}
	return strconv.Itoa(s.index)
}
