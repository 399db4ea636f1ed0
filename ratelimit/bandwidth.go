package ratelimit

import (
	"context"
	"io"
	"net/netip"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"golang.org/x/time/rate"
)

// Chunk sizes of a metered copy. A chunk is about 1/chunksPerSecond of
// the tightest rate, so that sessions sharing a rate take turns often and
// ABOR never waits long, within bounds: small chunks would cost a system
// call each, large ones would make the flow bursty.
const (
	chunksPerSecond = 16
	minMeterChunk   = 512
	maxMeterChunk   = 4 << 20
)

// LimitTransfer is the limiter's engine.TransferHook. It meters a
// transfer's bytes against the shared rates of the session's user, its
// tenant and its address (each direction separately), and passes the copy
// through untouched when none applies. Metering keeps the engine's
// sendfile and splice paths: it calls next with an *io.LimitedReader of
// src holding one chunk at a time and waits between chunks until the
// rates have paid for what was sent. The wait after the last chunk is
// skipped, and the debt left is paid by the next transfer that shares a
// rate.
func (l *Limiter) LimitTransfer(t *engine.Transfer, next engine.CopyFunc) engine.CopyFunc {
	m := l.transferMeter(t)
	if m.n == 0 {
		return next
	}
	return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
		// One reader for every chunk of the copy, refilled before each
		// call: next is done with it when it returns.
		lr := &io.LimitedReader{R: src}
		var total int64
		for {
			lr.N = m.chunk
			n, err := next(ctx, dst, lr)
			total += n
			if n > 0 {
				now := l.now()
				var delay time.Duration
				for i := range m.n { // not m.buckets[:m.n]: slicing would move m to the heap
					delay = max(delay, charge(m.buckets[i], now, int(n)))
				}
				if err != nil || n < m.chunk {
					return total, err // done: the debt stays with the buckets
				}
				if delay > 0 {
					l.counters.add(ruleTransferWait)
					l.counters.waitedNano.Add(int64(delay))
					if !wait(ctx, delay) {
						return total, engine.ErrTransferAborted
					}
				}
				continue
			}
			return total, err // nothing moved: the source is exhausted or failed
		}
	}
}

// meter is what the transfers of one direction are metered against.
type meter struct {
	buckets [3]*rate.Limiter // the first n: the user's, the tenant's, the address's, those set
	n       int
	chunk   int64 // the bytes next is given at a time: 1/chunksPerSecond of the tightest rate, bounded
}

// meterIndex is where sessionState keeps the meter of direction d.
func meterIndex(d engine.Direction) int {
	if d == engine.Upload {
		return 1
	}
	return 0
}

// transferMeter returns the rates a transfer is metered against, from
// the session's cache when it holds them for the config in force and the
// session's login (sessionState.sync), else from the tables: the
// transfers of a session after its first then lock nothing but the
// session, and allocate nothing here.
func (l *Limiter) transferMeter(t *engine.Transfer) meter {
	s := l.session(t.Session)
	if s == nil {
		return meter{}
	}
	c := l.cfg.Load()
	i := meterIndex(t.Direction)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync(c.gen)
	if s.metersOK[i] {
		return s.meters[i]
	}
	lg := s.login
	m := l.findMeter(c, lg, s.key, t.Direction, l.now())
	// The buckets may be kept only while the session pins their entries
	// (its login pins the user's and the tenant's, its connection the
	// address's), so that they stay the entries' own.
	pinned := lg == nil || (lg.user == "" || lg.userPinned) && (lg.tenant == "" || lg.tenantPinned)
	if l.Overrides == nil && pinned {
		s.meters[i], s.metersOK[i] = m, true
	}
	return m
}

// findMeter looks up, in the tables, the rates for direction d of lg's
// user and tenant and of the address key, tuned to the limits of c.
func (l *Limiter) findMeter(c *compiled, lg *login, key netip.Addr, d engine.Direction, now time.Time) meter {
	var m meter
	pick := func(down, up **rate.Limiter, downRate, upRate conf.Rate) {
		r, lim := downRate, down
		if d == engine.Upload {
			r, lim = upRate, up
		}
		// The burst is one chunk of this rate: the first chunk of a
		// transfer goes at once, and no rate saves up more than that.
		burst := int(max(minMeterChunk, min(maxMeterChunk, float64(r)/chunksPerSecond)))
		tune(lim, float64(r), burst, now)
		if *lim != nil {
			m.buckets[m.n] = *lim
			m.n++
		}
	}
	if lg != nil && lg.user != "" {
		ul := c.loginLimits(lg, l.Overrides)
		if ul.DownloadRate > 0 || ul.UploadRate > 0 {
			l.users.with(lg.key, now, idleTTL, func(a *accountState, _ bool) int {
				pick(&a.down, &a.up, ul.DownloadRate, ul.UploadRate)
				return 0
			})
		}
	}
	if lg != nil && lg.tenant != "" {
		tl := c.tenantLimits(lg.tenant, l.Overrides)
		if tl.DownloadRate > 0 || tl.UploadRate > 0 {
			l.tenants.with(lg.tenant, now, idleTTL, func(a *accountState, _ bool) int {
				pick(&a.down, &a.up, tl.DownloadRate, tl.UploadRate)
				return 0
			})
		}
	}
	if c.IPDownloadRate > 0 || c.IPUploadRate > 0 {
		l.ips.with(key, now, idleTTL, func(a *ipState, _ bool) int {
			pick(&a.down, &a.up, c.IPDownloadRate, c.IPUploadRate)
			return 0
		})
	}
	if m.n == 0 {
		return m
	}
	var tightest rate.Limit = rate.Inf
	for _, b := range m.buckets[:m.n] {
		tightest = min(tightest, b.Limit())
	}
	m.chunk = int64(max(minMeterChunk, min(maxMeterChunk, float64(tightest)/chunksPerSecond)))
	return m
}

// charge takes n tokens from b and returns how long until they are paid
// for. n is at most the burst the bucket had when the transfer started; a
// config reload may have shrunk it since, and then the debt is charged in
// burst-sized parts.
func charge(b *rate.Limiter, now time.Time, n int) time.Duration {
	// The whole chunk at once: a bucket that cannot hold it (n is over
	// its burst) refuses without taking anything, and only then is the
	// burst asked for, so that the usual chunk costs one lock.
	if r := b.ReserveN(now, n); r.OK() {
		return r.DelayFrom(now)
	}
	var delay time.Duration
	for n > 0 {
		part := min(n, max(b.Burst(), 1))
		r := b.ReserveN(now, part)
		if !r.OK() {
			return delay // the rate was lifted meanwhile
		}
		delay = max(delay, r.DelayFrom(now))
		n -= part
	}
	return delay
}
