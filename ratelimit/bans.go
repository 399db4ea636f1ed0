package ratelimit

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"time"
)

// Ban is one address ban in force, as Limiter.Bans lists it.
type Ban struct {
	// Prefix is what is banned: the client's address masked to
	// Config.IPv4Prefix or Config.IPv6Prefix bits (a /32 or a /64 by
	// default).
	Prefix netip.Prefix
	// Until is when the ban ends.
	Until time.Time
	// Offences counts the bans of this prefix remembered (BanMemory),
	// this one included; each doubles the next ban's length.
	Offences int
}

// Bans returns the bans in force, at most limit of them (limit <= 0: no
// limit), ordered by prefix (IPv4 first), and total, the number in force.
// Its memory is bounded by Config.MaxBans: the ban list keeps no more.
//
// With Limiter.Shared, the list is the cluster's (the local one when the
// shared state cannot be asked).
func (l *Limiter) Bans(limit int) (bans []Ban, total int) {
	l.setup()
	if sh := l.Shared; sh != nil {
		if bans, total, err := sh.Bans(context.Background(), limit); err == nil {
			return bans, total
		}
	}
	c := l.cfg.Load()
	now := l.now()
	l.bans.each(now, func(key netip.Addr, b *banState) {
		if b.until <= now.UnixNano() {
			return
		}
		bans = append(bans, Ban{Prefix: banPrefix(c, key), Until: time.Unix(0, b.until), Offences: b.offences})
	})
	slices.SortFunc(bans, func(a, b Ban) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	total = len(bans)
	if limit > 0 && len(bans) > limit {
		bans = slices.Clip(bans[:limit])
	}
	return bans, total
}

// Lift lifts every ban in force within or around p (an address is a /32
// or /128: the ban of its prefix) and forgets those prefixes' offences,
// so that their next ban is a first one. It returns the bans lifted; 0
// when nothing in p was banned. A zone is dropped and an IPv4-mapped form
// is read as IPv4 (the tables key on those); a mapped prefix shorter
// than /96 lifts nothing. With Limiter.Shared it lifts the bans in the
// shared state too, so everywhere, and returns how many of those it
// lifted.
func (l *Limiter) Lift(p netip.Prefix) int {
	l.setup()
	if !p.IsValid() {
		return 0
	}
	a := p.Addr()
	bits := p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			return 0 // not one IPv4 network: nothing is lifted rather than every IPv4 ban
		}
		bits -= 96
	}
	p = netip.PrefixFrom(a.Unmap().WithZone(""), bits).Masked()
	c := l.cfg.Load()
	now := l.now()
	sharedLifted, sharedErr := 0, error(nil)
	if sh := l.Shared; sh != nil {
		sharedLifted, sharedErr = sh.Lift(context.Background(), p, c.IPv4Prefix, c.IPv6Prefix)
	}
	var keys []netip.Addr
	l.bans.each(now, func(key netip.Addr, b *banState) {
		if b.until > now.UnixNano() && banPrefix(c, key).Overlaps(p) {
			keys = append(keys, key)
		}
	})
	lifted := 0
	for _, k := range keys {
		l.bans.with(k, now, 0, func(b *banState, _ bool) int {
			if b.until > now.UnixNano() {
				lifted++
			}
			*b = banState{}
			return 0
		})
	}
	if l.Shared != nil && sharedErr == nil {
		return sharedLifted // the cluster's bans; a local one is their fallback copy
	}
	return lifted
}

// banPrefix is the prefix a ban key (an address masked by addrKey) stands
// for under c.
func banPrefix(c *compiled, key netip.Addr) netip.Prefix {
	bits := c.IPv6Prefix
	if key.Is4() {
		bits = c.IPv4Prefix
	}
	p, err := key.Prefix(bits)
	if err != nil {
		return netip.PrefixFrom(key, key.BitLen())
	}
	return p
}
