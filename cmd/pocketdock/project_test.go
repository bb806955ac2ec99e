package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pocketdock/pocketdock"
)

func TestProjectCommands(t *testing.T) {
	root := newRootCmd(&globals{}, io.Discard, io.Discard)
	want := map[string][]string{
		"init":       {"name", "json"},
		"status":     {"json"},
		"quickstart": {"json"},
		"logs":       {"history", "limit", "json", "follow", "job"},
		"doctor":     {"fix", "json"},
		"list":       {"project", "json"},
	}
	for name, flags := range want {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Fatalf("command %s: %v", name, err)
		}
		if name != "doctor" && name != "list" && (cmd.Example == "" || cmd.Short == "") {
			t.Errorf("%s: no Example or Short", name)
		}
		for _, f := range flags {
			if cmd.Flags().Lookup(f) == nil {
				t.Errorf("%s has no --%s", name, f)
			}
		}
	}
	logs, _, _ := root.Find([]string{"logs"})
	if err := logs.Args(logs, nil); err != nil {
		t.Errorf("logs without NAME refused: %v", err)
	}
	if err := logs.Args(logs, []string{"a", "b"}); err == nil {
		t.Error("logs with two names accepted")
	}
}

func TestHistoryRow(t *testing.T) {
	e := pocketdock.HistoryEntry{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Command: "echo a\necho b",
		ExitCode: 3, DurationMS: 1234.5678, Instance: "web"}
	row := historyRow(e, true)
	f := strings.Split(row, "\t")
	if len(f) != 5 || f[1] != "web" || f[2] != "3" || f[3] != "1.235s" || f[4] != "echo a echo b" {
		t.Fatalf("row %q", row)
	}
	e.TimedOut, e.ExitCode = true, -1
	if f := strings.Split(historyRow(e, false), "\t"); len(f) != 4 || f[1] != "timeout" {
		t.Fatalf("timed out row %q", f)
	}
}
