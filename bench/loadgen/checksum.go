package loadgen

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
)

// castagnoli is the CRC-32C table. CRC-32C runs in hardware on amd64 and
// arm64 (over 20 GB/s here), so checking every byte costs the load
// generator almost nothing, where CRC-64 and SHA-256 (about 1.5 GB/s)
// would make it the bottleneck of a loopback transfer.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sum identifies a byte stream: its length and its CRC-32C.
type Sum struct {
	N   int64  // bytes
	CRC uint32 // CRC-32C (Castagnoli) of the bytes
}

// String returns "N bytes, crc32c XXXXXXXX".
func (s Sum) String() string { return fmt.Sprintf("%d bytes, crc32c %08x", s.N, s.CRC) }

// ErrCorrupt means a transfer moved other bytes than the ones expected.
var ErrCorrupt = errors.New("loadgen: transferred bytes do not match")

// Verify returns nil when got equals want, and an error wrapping
// ErrCorrupt otherwise.
func Verify(got, want Sum) error {
	if got != want {
		return fmt.Errorf("%w: got %v, want %v", ErrCorrupt, got, want)
	}
	return nil
}

// Hasher is an io.Writer that computes the Sum of what is written to it.
type Hasher struct{ sum Sum }

// Write adds p to the sum; it never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	h.sum.CRC = crc32.Update(h.sum.CRC, castagnoli, p)
	h.sum.N += int64(len(p))
	return len(p), nil
}

// Sum returns the sum of everything written so far.
func (h *Hasher) Sum() Sum { return h.sum }

// SumOf returns the Sum of b.
func SumOf(b []byte) Sum {
	return Sum{N: int64(len(b)), CRC: crc32.Checksum(b, castagnoli)}
}

// SumReader reads r to its end and returns the Sum of what it read.
func SumReader(r io.Reader) (Sum, error) {
	var h Hasher
	buf := make([]byte, 256<<10)
	_, err := io.CopyBuffer(&h, readerOnly{r}, buf)
	return h.Sum(), err
}

// Payload returns size bytes of deterministic pseudo-random data for seed.
// Every 4 KiB block starts with its own index, so that reordered or
// repeated blocks change the sum.
func Payload(size int64, seed uint64) []byte {
	b := make([]byte, size)
	FillPayload(b, seed)
	return b
}

// FillPayload fills b with the data Payload returns for len(b) and seed.
func FillPayload(b []byte, seed uint64) {
	rng := rand.NewChaCha8([32]byte{0: byte(seed), 1: byte(seed >> 8), 2: byte(seed >> 16), 3: byte(seed >> 24), 4: byte(seed >> 32)})
	const blockSize = 64 << 10
	block := make([]byte, blockSize)
	_, _ = rng.Read(block) // ChaCha8.Read never fails
	for off := 0; off < len(b); off += blockSize {
		n := copy(b[off:], block)
		idx := uint64(off / 4096)
		for k := 0; k < n; k += 4096 {
			for j := range min(8, n-k) {
				b[off+k+j] = byte((idx + uint64(k/4096)) >> (8 * j))
			}
		}
	}
}

// readerOnly hides WriteTo so that io.CopyBuffer uses the given buffer.
type readerOnly struct{ io.Reader }
