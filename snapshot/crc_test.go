package snapshot

import (
	"bytes"
	"hash/crc64"
	"math/rand"
	"testing"

	tsstorage "github.com/vbatts/tar-split/tar/storage"
)

// updateISO must equal hash/crc64 with the ISO table for every length and
// split (it is what tar-split checks files with when it rebuilds a layer).
func TestUpdateISOMatchesHashCRC64(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		n := rng.Intn(3000)
		if i%3 == 0 {
			n = rng.Intn(5 * 4 * isoLane) // the four-lane path, with a tail
		}
		b := make([]byte, n)
		rng.Read(b)
		split := 0
		if len(b) > 0 {
			split = rng.Intn(len(b) + 1)
		}
		want := crc64.Checksum(b, crc64.MakeTable(crc64.ISO))
		if got := updateISO(updateISO(0, b[:split]), b[split:]); got != want {
			t.Fatalf("len %d split %d: %x, want %x", len(b), split, got, want)
		}
	}
}

// crcPutter returns what tar-split's own discard putter returns.
func TestCRCPutterMatchesTarSplit(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, n := range []int{1, 7, 8, 9, 4096, 256<<10 - 1, 256 << 10, 256<<10 + 3, 1 << 20} {
		b := make([]byte, n)
		rng.Read(b)
		n1, s1, err1 := tsstorage.NewDiscardFilePutter().Put("f", bytes.NewReader(b))
		n2, s2, err2 := (&crcPutter{}).Put("f", bytes.NewReader(b))
		if err1 != nil || err2 != nil || n1 != n2 || !bytes.Equal(s1, s2) {
			t.Fatalf("size %d: tar-split %d %x %v, ours %d %x %v", n, n1, s1, err1, n2, s2, err2)
		}
	}
}

func BenchmarkUpdateISO(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		updateISO(0, buf)
	}
}

func BenchmarkHashCRC64ISO(b *testing.B) {
	buf := make([]byte, 1<<20)
	tab := crc64.MakeTable(crc64.ISO)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		crc64.Update(0, tab, buf)
	}
}
