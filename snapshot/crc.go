package snapshot

import (
	"encoding/binary"
	"hash/crc64"
	"io"
)

// isoTable is the table of the CRC-64/ISO polynomial that tar-split checks
// every file of a layer with (tar-split storage.CRCTable).
var isoTable = crc64.MakeTable(crc64.ISO)

// updateISO returns crc64.Update(crc, isoTable, p), computed eight bytes at
// a time: the ISO polynomial x^64 + x^4 + x^3 + x + 1 is sparse, so
// multiplying the (bit-reflected) register by x^64 modulo it is a handful of
// shifts and xors — x^64 ≡ x^4 + x^3 + x + 1, and the at most four bits that
// overflow past x^63 are folded back the same way. Long inputs run as four
// interleaved lanes of isoLane bytes whose registers are then combined
// (register·x^(8·isoLane) mod P, precomputed), so the processor works on
// four independent dependency chains. hash/crc64 looks up a table per byte
// and takes several times as long; tar-split's crc of every file is a large
// part of a snapshot's work.
func updateISO(crc uint64, p []byte) uint64 {
	c := ^crc
	for len(p) >= 4*isoLane {
		c0, c1, c2, c3 := c, uint64(0), uint64(0), uint64(0)
		l0, l1, l2, l3 := p[:isoLane], p[isoLane:2*isoLane], p[2*isoLane:3*isoLane], p[3*isoLane:4*isoLane]
		for i := 0; i+8 <= len(l0); i += 8 {
			c0 = isoStep(c0, binary.LittleEndian.Uint64(l0[i:i+8]))
			c1 = isoStep(c1, binary.LittleEndian.Uint64(l1[i:i+8]))
			c2 = isoStep(c2, binary.LittleEndian.Uint64(l2[i:i+8]))
			c3 = isoStep(c3, binary.LittleEndian.Uint64(l3[i:i+8]))
		}
		c = isoMul(isoMul(isoMul(c0, isoShift)^c1, isoShift)^c2, isoShift) ^ c3
		p = p[4*isoLane:]
	}
	for len(p) >= 8 {
		c = isoStep(c, binary.LittleEndian.Uint64(p))
		p = p[8:]
	}
	return crc64.Update(^c, isoTable, p)
}

// isoLane is the length of each of updateISO's four lanes, in bytes.
const isoLane = 4096

// isoPoly is the ISO polynomial without its x^64 term, bit-reflected (bit
// 63-d holds the coefficient of x^d).
const isoPoly = 0xD800000000000000

// isoShift is x^(8·isoLane) mod P, bit-reflected.
var isoShift = isoPow8(isoLane)

// isoStep returns the register c after the eight bytes w (little-endian):
// (c ^ w)·x^64 mod P.
func isoStep(c, w uint64) uint64 {
	r := c ^ w
	h := r<<60 ^ r<<61 ^ r<<63
	return r ^ r>>1 ^ r>>3 ^ r>>4 ^ h ^ h>>1 ^ h>>3 ^ h>>4
}

// isoMul returns a·b mod P (bit-reflected polynomials).
func isoMul(a, b uint64) uint64 {
	var p uint64
	for m := uint64(1) << 63; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ isoPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// isoPow8 returns x^(8n) mod P (bit-reflected).
func isoPow8(n int) uint64 {
	p, x := uint64(1)<<63, uint64(1)<<(63-8) // x^0, x^8
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			p = isoMul(p, x)
		}
		x = isoMul(x, x)
	}
	return p
}

// crcPutter is tar-split's FilePutter that only checksums (as
// storage.NewDiscardFilePutter does), with updateISO.
type crcPutter struct {
	buf [256 << 10]byte
}

// Put reads r to its end and returns its length and its CRC-64/ISO in the
// byte order of hash/crc64's Sum (big-endian).
func (p *crcPutter) Put(_ string, r io.Reader) (int64, []byte, error) {
	var crc uint64
	var n int64
	for {
		k, err := r.Read(p.buf[:])
		crc = updateISO(crc, p.buf[:k])
		n += int64(k)
		if err == io.EOF {
			return n, binary.BigEndian.AppendUint64(nil, crc), nil
		}
		if err != nil {
			return n, nil, err
		}
	}
}
