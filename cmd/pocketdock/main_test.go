package main

import (
	"bytes"
	"errors"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

func TestCommandText(t *testing.T) {
	if got := commandText([]string{"echo hello; exit 3"}); got != "echo hello; exit 3" {
		t.Fatalf("a single argument must be the shell text itself, got %q", got)
	}
	// Several arguments: a real /bin/sh must split the text back into exactly them.
	for _, args := range [][]string{
		{"sh", "-c", "echo a; exit 7"},
		{"echo", "it's", `"quoted"`, "$HOME", "a b", "", "tab\there", "new\nline"},
	} {
		text := commandText(args)
		out, err := exec.Command("/bin/sh", "-c", "set -- "+text+"; printf '%s\\0' \"$@\"").Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"); strings.Join(got, "|") != strings.Join(args, "|") {
			t.Errorf("commandText(%q) = %q, which sh splits into %q", args, text, got)
		}
	}
}

func TestSecondsFlag(t *testing.T) {
	if secondsFlag(0) >= 0 || secondsFlag(-1) >= 0 {
		t.Fatal("0 and negative must mean no limit (a negative duration)")
	}
	if secondsFlag(1.5) != 1500*time.Millisecond {
		t.Fatal("1.5 s")
	}
}

func TestCLIUsageErrorsExit125(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"run", "onlyname"}, &out, &errb)
	if code != 125 || !strings.Contains(errb.String(), "pocketdock:") {
		t.Fatalf("run with too few args: %d %q", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.Contains(out.String(), version) {
		t.Fatalf("version: %d %q", code, out.String())
	}
}

func TestSecondsFlagEdges(t *testing.T) {
	for _, s := range []float64{1e12, 1e300, math.Inf(1), math.NaN()} {
		if d := secondsFlag(s); d >= 0 {
			t.Errorf("secondsFlag(%v) = %v: want no limit (negative)", s, d)
		}
	}
	for _, s := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if err := checkSeconds("timeout", s); !errors.Is(err, pocketdock.ErrInvalidArgument) {
			t.Errorf("checkSeconds(%v): want ErrInvalidArgument, got %v", s, err)
		}
	}
	if err := checkSeconds("timeout", 1.5); err != nil {
		t.Error(err)
	}
}
