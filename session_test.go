package pocketdock

import "testing"

func TestFindMarker(t *testing.T) {
	tok := "0123456789abcdef0123456789abcdef"
	cases := []struct {
		in       string
		withCode bool
		ok       bool
		start    int
		code     int
	}{
		{"abc\n__PDS_" + tok + "_0\n", true, true, 3, 0},
		{"\n__PDS_" + tok + "_127\nrest", true, true, 0, 127},
		{"abc\n__PDS_" + tok + "_1", true, false, 0, 0},                        // no newline yet
		{"abc\n__PDS_ffff" + tok[4:] + "_0\n", true, false, 0, 0},              // another token
		{"abc__PDS_" + tok + "_0\n", true, false, 0, 0},                        // not at a line start
		{"x\n__PDS_" + tok + "_x\n\n__PDS_" + tok + "_2\n", true, false, 0, 0}, // first match malformed
		{"err\n__PDS_" + tok + "_E\n", false, true, 3, 0},
		{"err\n__PDS_" + tok + "_0\n", false, false, 0, 0},
	}
	for _, c := range cases {
		start, code, _, ok := findMarker([]byte(c.in), tok, c.withCode)
		if ok != c.ok || (ok && (start != c.start || code != c.code)) {
			t.Errorf("%q: got %v %d %d, want %v %d %d", c.in, ok, start, code, c.ok, c.start, c.code)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"echo hi": `'echo hi'`,
		"it's":    `'it'\''s'`,
		"a\nb":    "'a\nb'",
		`"$x" \n`: `'"$x" \n'`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}
