package engine

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// idRounds is the Feistel rounds of sessionIDs' permutation.
const idRounds = 6

// sessionIDs hands out session ids: a permutation of a counter under a
// random key of the server's. Ids stay unique over 2^32 sessions, as
// the counter's were, but two of them no longer tell how many sessions
// came between: a tenant sees its own sessions' ids (its policy's
// requests, the admin API, the logs it is given) and must not learn
// from them how busy the other tenants are. The key is no secret worth
// more than that: the permutation is a cheap mix, not a cipher.
type sessionIDs struct {
	once    sync.Once
	keys    [idRounds]uint32
	counter atomic.Uint32
}

// next returns the next session id, never 0.
func (g *sessionIDs) next() uint32 {
	g.once.Do(func() {
		var b [4 * idRounds]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		for i := range g.keys {
			g.keys[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	})
	for {
		if id := g.permute(g.counter.Add(1)); id != 0 {
			return id
		}
	}
}

// permute is a balanced Feistel network over the two 16-bit halves of
// n: a bijection of uint32 for any keys.
func (g *sessionIDs) permute(n uint32) uint32 {
	l, r := uint16(n>>16), uint16(n)
	for _, k := range g.keys {
		x := uint32(r)*0x9e3779b1 ^ k
		x ^= x >> 15
		x *= 0x85ebca6b
		x ^= x >> 13
		l, r = r, l^uint16(x>>16)
	}
	return uint32(l)<<16 | uint32(r)
}
