package runtime

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// writeFileAtomicChunks writes the same bytes whatever the chunk size
// (installAgent writes the agent one page at a time), with the mode asked
// for and no temporary file left beside it.
func TestWriteFileAtomicChunks(t *testing.T) {
	data := make([]byte, 3*4096+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, chunk := range []int{0, -1, 1, 3, 4096, len(data), len(data) + 1} {
		dir := t.TempDir()
		path := filepath.Join(dir, "agent")
		if err := writeFileAtomicChunks(path, data, 0o555, chunk); err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("chunk %d: read back %d bytes (%v), want the %d written", chunk, len(got), err, len(data))
		}
		if fi, err := os.Stat(path); err != nil {
			t.Errorf("chunk %d: %v", chunk, err)
		} else if fi.Mode().Perm() != 0o555 {
			t.Errorf("chunk %d: mode %v, want 0555", chunk, fi.Mode().Perm())
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("chunk %d: %d entries in the folder, want only the file", chunk, len(ents))
		}
	}
	// An empty file is written too.
	path := filepath.Join(t.TempDir(), "empty")
	if err := writeFileAtomicChunks(path, nil, 0o644, 4096); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("empty: %v %v", fi, err)
	}
}
