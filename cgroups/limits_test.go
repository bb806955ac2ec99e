package cgroups

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	ocgroups "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseMemLimit(t *testing.T) {
	good := map[string]int64{
		"":        0,
		"6m":      6 << 20,
		"256m":    256 << 20,
		"256M":    256 << 20,
		"256MiB":  256 << 20,
		"1g":      1 << 30,
		"1.5g":    3 << 29,
		"8192k":   8 << 20,
		"7340032": 7 << 20,
	}
	for in, want := range good {
		got, err := ParseMemLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseMemLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"abc", "-1m", "0", "10", "5m", "1x", "m", "1 gb extra"} {
		_, err := ParseMemLimit(in)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseMemLimit(%q): want ErrInvalidArgument, got %v", in, err)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(in)) || !strings.Contains(err.Error(), "6m") {
			t.Errorf("ParseMemLimit(%q): error %q should name the value and the minimum", in, err)
		}
	}
}

func TestValidateCPUPercent(t *testing.T) {
	max := HostCPUs() * 100
	for _, p := range []int{0, 1, 50, 100, max} {
		if err := ValidateCPUPercent(p); err != nil {
			t.Errorf("ValidateCPUPercent(%d): %v", p, err)
		}
	}
	for _, p := range []int{-1, -100, max + 1, max * 10} {
		err := ValidateCPUPercent(p)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), strconv.Itoa(p)) || !strings.Contains(err.Error(), strconv.Itoa(max)) {
			t.Errorf("ValidateCPUPercent(%d): want ErrInvalidArgument naming %d and %d, got %v", p, p, max, err)
		}
	}
}

func TestParseAndPids(t *testing.T) {
	l, err := Parse("32m", 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.MemoryBytes != 32<<20 || l.CPUPercent != 50 || l.Pids() != DefaultPidsLimit || l.CPUQuotaUS() != 50_000 {
		t.Fatalf("Parse: %+v pids %d quota %d", l, l.Pids(), l.CPUQuotaUS())
	}
	if got := (Limits{PidsLimit: -5}).Pids(); got != -1 {
		t.Errorf("negative pids limit: %d, want -1 (none)", got)
	}
	if got := (Limits{PidsLimit: 100}).Pids(); got != 100 {
		t.Errorf("pids limit 100: %d", got)
	}
	if _, err := Parse("", 0, MaxPidsLimit+1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("pids above PID_MAX_LIMIT: %v", err)
	}
	if _, err := Parse("abc", 0, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad memory through Parse: %v", err)
	}
	if _, err := Parse("", -1, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad CPU through Parse: %v", err)
	}
}

func TestApply(t *testing.T) {
	var r specs.LinuxResources
	Limits{MemoryBytes: 32 << 20, CPUPercent: 150, PidsLimit: 64}.Apply(&r)
	if r.Memory == nil || *r.Memory.Limit != 32<<20 {
		t.Fatalf("memory: %+v", r.Memory)
	}
	if swapAccounting() && (r.Memory.Swap == nil || *r.Memory.Swap != 32<<20) {
		t.Fatalf("swap should be capped at the memory limit: %+v", r.Memory.Swap)
	}
	if r.CPU == nil || *r.CPU.Quota != 150_000 || *r.CPU.Period != 100_000 {
		t.Fatalf("cpu: %+v", r.CPU)
	}
	if r.Pids == nil || *r.Pids.Limit != 64 {
		t.Fatalf("pids: %+v", r.Pids)
	}

	var none specs.LinuxResources
	Limits{}.Apply(&none)
	if none.Memory != nil || none.CPU != nil {
		t.Fatalf("no limits set memory/cpu: %+v %+v", none.Memory, none.CPU)
	}
	if none.Pids == nil || *none.Pids.Limit != DefaultPidsLimit {
		t.Fatalf("default pids: %+v", none.Pids)
	}
	var unlimited specs.LinuxResources
	Limits{PidsLimit: -1}.Apply(&unlimited)
	if *unlimited.Pids.Limit != -1 {
		t.Fatalf("no pids limit: %d", *unlimited.Pids.Limit)
	}
}

func TestMemoryUsage(t *testing.T) {
	v1 := &ocgroups.MemoryStats{Usage: ocgroups.MemoryData{Usage: 100 << 20}, Stats: map[string]uint64{"total_inactive_file": 30 << 20, "inactive_file": 1}}
	if got := MemoryUsage(v1); got != 70<<20 {
		t.Errorf("v1: %d", got)
	}
	v2 := &ocgroups.MemoryStats{Usage: ocgroups.MemoryData{Usage: 100 << 20}, Stats: map[string]uint64{"inactive_file": 40 << 20}}
	if got := MemoryUsage(v2); got != 60<<20 {
		t.Errorf("v2: %d", got)
	}
	odd := &ocgroups.MemoryStats{Usage: ocgroups.MemoryData{Usage: 1}, Stats: map[string]uint64{"inactive_file": 2}}
	if got := MemoryUsage(odd); got != 0 {
		t.Errorf("inactive above usage: %d", got)
	}
}

func TestCPUPercentAndLimit(t *testing.T) {
	if got := CPUPercent(1e9, 1e9+50e6, 100*time.Millisecond); math.Abs(got-50) > 1e-9 {
		t.Errorf("50 ms over 100 ms: %v", got)
	}
	if got := CPUPercent(0, 200e6, 100*time.Millisecond); math.Abs(got-200) > 1e-9 {
		t.Errorf("two CPUs: %v", got)
	}
	if got := CPUPercent(5, 1, time.Second); got != 0 {
		t.Errorf("counter going back: %v", got)
	}
	const host = 8 << 30
	if l, set := effectiveLimit(256<<20, host); l != 256<<20 || !set {
		t.Errorf("set limit: %d %v", l, set)
	}
	if l, set := effectiveLimit(math.MaxUint64, host); l != host || set {
		t.Errorf("v2 max: %d %v", l, set)
	}
	if l, set := effectiveLimit(9223372036854771712, host); l != host || set {
		t.Errorf("v1 unlimited: %d %v", l, set)
	}
	if p := percent(1, 4); p != 25 {
		t.Errorf("percent: %v", p)
	}
	if p := percent(1, 0); p != 0 {
		t.Errorf("percent of 0: %v", p)
	}
}
