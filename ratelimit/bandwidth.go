package ratelimit

import (
	"context"
	"io"
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
// sendfile and splice paths: it calls next with io.LimitReader(src, chunk)
// for one chunk at a time and waits between chunks until the rates have
// paid for what was sent. The wait after the last chunk is skipped, and
// the debt left is paid by the next transfer that shares a rate.
func (l *Limiter) LimitTransfer(t *engine.Transfer, next engine.CopyFunc) engine.CopyFunc {
	buckets := l.transferBuckets(t)
	if len(buckets) == 0 {
		return next
	}
	var tightest rate.Limit = rate.Inf
	for _, b := range buckets {
		tightest = min(tightest, b.Limit())
	}
	chunk := int64(max(minMeterChunk, min(maxMeterChunk, float64(tightest)/chunksPerSecond)))
	return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
		var total int64
		for {
			n, err := next(ctx, dst, io.LimitReader(src, chunk))
			total += n
			if n > 0 {
				now := l.now()
				var delay time.Duration
				for _, b := range buckets {
					delay = max(delay, charge(b, now, int(n)))
				}
				if err != nil || n < chunk {
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

// transferBuckets returns the rates a transfer is metered against: the
// user's, the tenant's and the address's, for its direction.
func (l *Limiter) transferBuckets(t *engine.Transfer) []*rate.Limiter {
	s := l.session(t.Session)
	if s == nil {
		return nil
	}
	c := l.cfg.Load()
	now := l.now()
	s.mu.Lock()
	lg := s.login
	s.mu.Unlock()

	var out []*rate.Limiter
	pick := func(a *ipOrAccount, down, up conf.Rate) {
		r := down
		lim := a.down
		if t.Direction == engine.Upload {
			r, lim = up, a.up
		}
		// The burst is one chunk of this rate: the first chunk of a
		// transfer goes at once, and no rate saves up more than that.
		burst := int(max(minMeterChunk, min(maxMeterChunk, float64(r)/chunksPerSecond)))
		tune(lim, float64(r), burst, now)
		if *lim != nil {
			out = append(out, *lim)
		}
	}
	if lg != nil && lg.user != "" {
		ul := c.userLimits(lg.tenant, lg.user, l.Overrides)
		if ul.DownloadRate > 0 || ul.UploadRate > 0 {
			l.users.with(userKey(lg.tenant, lg.user), now, idleTTL, func(a *accountState, _ bool) int {
				pick(&ipOrAccount{&a.down, &a.up}, ul.DownloadRate, ul.UploadRate)
				return 0
			})
		}
	}
	if lg != nil && lg.tenant != "" {
		tl := c.tenantLimits(lg.tenant, l.Overrides)
		if tl.DownloadRate > 0 || tl.UploadRate > 0 {
			l.tenants.with(lg.tenant, now, idleTTL, func(a *accountState, _ bool) int {
				pick(&ipOrAccount{&a.down, &a.up}, tl.DownloadRate, tl.UploadRate)
				return 0
			})
		}
	}
	if c.IPDownloadRate > 0 || c.IPUploadRate > 0 {
		l.ips.with(s.key, now, idleTTL, func(a *ipState, _ bool) int {
			pick(&ipOrAccount{&a.down, &a.up}, c.IPDownloadRate, c.IPUploadRate)
			return 0
		})
	}
	return out
}

// ipOrAccount points at the two byte buckets of an address or an account.
type ipOrAccount struct {
	down, up **rate.Limiter
}

// charge takes n tokens from b and returns how long until they are paid
// for. n is at most the burst the bucket had when the transfer started; a
// config reload may have shrunk it since, and then the debt is charged in
// burst-sized parts.
func charge(b *rate.Limiter, now time.Time, n int) time.Duration {
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
