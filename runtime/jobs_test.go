package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

// writeRing writes stream s into a ring file of size cap the way the agent
// does (byte i at offset i%cap).
func writeRing(t *testing.T, s string, cap int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ring")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i < len(s); i++ {
		f.WriteAt([]byte{s[i]}, int64(i)%cap)
	}
	return p
}

func TestReadRing(t *testing.T) {
	const s = "0123456789abcdefghij" // 20 bytes
	cases := []struct {
		name               string
		cap, from, n, more int64
		want               string
	}{
		{"not wrapped", 32, 0, 20, 0, s},
		{"not wrapped from 5", 32, 5, 20, 0, s[5:]},
		{"wrapped keeps last cap", 8, 0, 20, 0, s[12:]},
		{"wrapped from inside", 8, 15, 20, 0, s[15:]},
		{"exactly cap", 20, 0, 20, 0, s},
		{"consumed all", 8, 20, 20, 0, ""},
		{"overwritten meanwhile", 8, 0, 18, 2, s[12:18]},
		{"prefix", 32, 0, 7, 0, s[:7]},
	}
	for _, c := range cases {
		p := writeRing(t, s[:c.n+c.more], c.cap)
		got, _, err := ReadRing(p, c.from, c.n, c.n+c.more, c.cap)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: got %q %v, want %q", c.name, got, err, c.want)
		}
	}
	// A lying total never makes it read more than cap bytes.
	p := writeRing(t, s, 8)
	if got, _, err := ReadRing(p, 0, 1<<40, 1<<40, 8); err != nil || len(got) > 8 {
		t.Fatalf("huge total: %d bytes %v", len(got), err)
	}
	if _, _, err := ReadRing("", 0, 1, 1, 8); err == nil {
		t.Fatal("empty path accepted")
	}
}

func TestJobFileRefusesBadTags(t *testing.T) {
	p := Paths{Run: "/run/x"}
	id := "0000000000000000000000000000000000000000000000000000000000000000"
	for _, tag := range []string{"", "../../etc/passwd", "ABCDEF0123456789ABCDEF0123456789", "0123456789abcdef0123456789abcdef/x"} {
		if got := p.JobFile(id, tag, "out"); got != "" {
			t.Errorf("tag %q gave path %q", tag, got)
		}
	}
	if got := p.JobFile(id, "0123456789abcdef0123456789abcdef", "../x"); got != "" {
		t.Errorf("bad stream gave %q", got)
	}
	if got := p.JobFile(id, "0123456789abcdef0123456789abcdef", "out"); got != "/run/x/c/"+id+"/jobs/0123456789abcdef0123456789abcdef.out" {
		t.Errorf("good tag gave %q", got)
	}
}
