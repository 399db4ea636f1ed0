package tenancy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// credCache remembers recently verified credentials, so that a client that
// logs in again and again (a sync tool opening a session per file) pays
// for argon2id or bcrypt once per TTL instead of every time. Entries are
// keyed by an HMAC, under a key made at start and never stored, of the
// tenant, user, configured hash and password: the cache holds no password
// and no hash, a changed hash misses by itself, and a reload starts a new
// cache. It only ever records successes, so it cannot turn a wrong
// password into a right one.
type credCache struct {
	mu      sync.Mutex
	key     []byte
	ttl     time.Duration
	max     int
	entries map[[sha256.Size]byte]time.Time // → expiry
}

// newCredCache returns an empty cache of at most max entries.
func newCredCache(max int, ttl time.Duration) *credCache {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails on supported systems
	return &credCache{key: key, ttl: ttl, max: max, entries: make(map[[sha256.Size]byte]time.Time)}
}

// id returns the cache key of one set of credentials.
func (c *credCache) id(tenant, user, hash, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	for _, s := range []string{tenant, user, hash, password} {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(s)>>24), byte(len(s)>>16), byte(len(s)>>8), byte(len(s))
		m.Write(n[:])
		m.Write([]byte(s))
	}
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// has reports whether the credentials were verified within the TTL.
func (c *credCache) has(id [sha256.Size]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[id]
	if ok && now.After(exp) {
		delete(c.entries, id)
		return false
	}
	return ok
}

// add records verified credentials, dropping expired entries and then, if
// still full, arbitrary ones.
func (c *credCache) add(id [sha256.Size]byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, exp := range c.entries {
			if now.After(exp) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[id] = now.Add(c.ttl)
}
