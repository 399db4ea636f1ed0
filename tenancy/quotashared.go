package tenancy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpgate/ftpgate/engine"
)

// RedisOptions connect tenancy's shared quota usage to the cluster's
// Redis (the shape every plugin of ftpgate's cluster takes; the gateway
// builds it from [cluster]).
type RedisOptions struct {
	// Client is shared by every store of the process.
	Client redis.UniversalClient
	// Prefix starts every key of this cluster, e.g. "ftpgate:"; the
	// quota adds "quota:".
	Prefix string
	// Deadline bounds each call (default 50 ms).
	Deadline time.Duration
	// FailOpen: when Redis cannot be reached, true enforces the byte
	// quota against this instance's own count (what it counted at start
	// and the changes made through it: the tenant may then overshoot by
	// what the other instances store meanwhile); false refuses uploads of
	// tenants with a byte quota with 451 until Redis answers again.
	FailOpen bool
	// OnError is told of every failed call; nil: logged only.
	OnError func(op string, err error)
}

// QuotaStore keeps the byte usage of tenants with a byte quota shared by
// the instances of a cluster; without one (the default) each instance
// counts its own, which suits one instance. RedisQuota is the one
// implementation; Driver.ShareQuota installs it.
type QuotaStore interface {
	// Reserve adds at least need and at most want bytes to tenant's usage
	// unless need would pass limit, and returns what it added: want when
	// it fits, else what the quota leaves (at least need).
	// ErrQuotaFull refuses; ErrNotCounted means no count was made yet.
	Reserve(ctx context.Context, tenant string, need, want, limit int64) (int64, error)
	// Add adds n bytes (negative: removes) to tenant's usage, never below
	// zero.
	Add(ctx context.Context, tenant string, n int64) error
	// Reconcile counts tenant's usage with measure, as the cluster's one
	// counter of that tenant for now (a lock with a TTL), and stores it;
	// it reports false when another instance holds the lock.
	Reconcile(ctx context.Context, tenant string, measure func(context.Context) (int64, error)) (bool, error)
	// FailOpen is the store's fail mode (RedisOptions.FailOpen).
	FailOpen() bool
}

// Errors of QuotaStore.Reserve.
var (
	ErrQuotaFull  = errors.New("tenancy: the quota is used up")
	ErrNotCounted = errors.New("tenancy: the tenant's usage is not counted yet")
)

// errQuotaUnknown refuses an upload when the shared usage cannot be read
// and the quota fails closed.
var errQuotaUnknown = &engine.ReplyError{Code: 451, Message: "The tenant's storage use cannot be checked now; try again later."}

// DefaultQuotaStep is the bytes an upload reserves at a time in the shared
// usage; DefaultQuotaReconcile how often the usage is counted again.
const (
	DefaultQuotaStep      = 1 << 20
	DefaultQuotaReconcile = time.Minute
)

// RedisQuota is the QuotaStore in Redis. Per tenant with a byte quota,
// with p = Prefix+"quota:"+tenant+":":
//
//	p+"used"   the tenant's bytes: settled files and what running uploads
//	           reserved; absent until the first count
//	p+"delta"  what was added while a count runs (absent otherwise; its
//	           TTL is the lock's)
//	p+"lock"   the counting instance's token (TTL: countLockTTL)
//
// Three keys per tenant (tenant ids follow conf.ValidTenantID, the
// tenants of the configuration); every change is one Lua script, so two
// instances never both take the last bytes.
//
// The bound. An upload takes its bytes in steps of Step (the last one
// smaller, as the quota leaves) before it writes them, and a step that
// would pass the quota is refused (552); so while no count runs, the
// bytes stored never pass the quota. A count (Reconcile) replaces `used`
// with what it found plus what was added meanwhile (delta); what a
// running upload had reserved before the count began and wrote after the
// walk passed its file, or gave back after the count, is then missed. It
// is at most the part of one step that upload had not written when the
// count began, so the usage can pass the quota by at most Step bytes per
// upload in flight during a count, until the next count. A count never
// misses a file that stays.
type RedisQuota struct {
	opts RedisOptions
	p    string
	log  *slog.Logger
}

// NewRedisQuota returns the store.
func NewRedisQuota(opts RedisOptions, log *slog.Logger) *RedisQuota {
	if opts.Deadline <= 0 {
		opts.Deadline = 50 * time.Millisecond
	}
	if log == nil {
		log = slog.Default()
	}
	return &RedisQuota{opts: opts, p: opts.Prefix + "quota:", log: log}
}

func (q *RedisQuota) key(tenant string) string { return q.p + tenant + ":" }

// FailOpen implements QuotaStore.
func (q *RedisQuota) FailOpen() bool { return q.opts.FailOpen }

func (q *RedisQuota) failed(op string, err error) error {
	if err == nil || errors.Is(err, ErrQuotaFull) || errors.Is(err, ErrNotCounted) {
		return err
	}
	if q.opts.OnError != nil {
		q.opts.OnError("quota."+op, err)
	} else {
		q.log.Warn("tenancy: shared quota", "op", op, "err", err)
	}
	return err
}

// reserveScript: ARGV = key prefix, need, want, limit. -1: over the
// quota; -2: not counted.
var reserveScript = redis.NewScript(`
local p = ARGV[1]
local u = redis.call('GET', p .. 'used')
if not u then return -2 end
local need, want, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local free = limit - tonumber(u)
if need > free then return -1 end
local g = math.max(need, math.min(want, free))
redis.call('INCRBY', p .. 'used', g)
if redis.call('EXISTS', p .. 'delta') == 1 then redis.call('INCRBY', p .. 'delta', g) end
return g
`)

// addScript: ARGV = key prefix, n.
var addScript = redis.NewScript(`
local p, n = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', p .. 'used') == 0 then return 0 end
local v = redis.call('INCRBY', p .. 'used', n)
if v < 0 then redis.call('SET', p .. 'used', 0) end
if n > 0 and redis.call('EXISTS', p .. 'delta') == 1 then redis.call('INCRBY', p .. 'delta', n) end
return 1
`)

// beginScript: ARGV = key prefix, token, ttl ms.
var beginScript = redis.NewScript(`
local p = ARGV[1]
if not redis.call('SET', p .. 'lock', ARGV[2], 'NX', 'PX', ARGV[3]) then return 0 end
redis.call('SET', p .. 'delta', 0, 'PX', ARGV[3])
return 1
`)

// endScript: ARGV = key prefix, token, bytes counted.
var endScript = redis.NewScript(`
local p = ARGV[1]
if redis.call('GET', p .. 'lock') ~= ARGV[2] then return -1 end
local d = tonumber(redis.call('GET', p .. 'delta') or '0')
local v = tonumber(ARGV[3]) + d
redis.call('SET', p .. 'used', v)
redis.call('DEL', p .. 'delta', p .. 'lock')
return v
`)

// countLockTTL bounds how long one instance stays the counter of a
// tenant; a count that takes longer loses its result (another instance
// counts next time).
const countLockTTL = 10 * time.Minute

func (q *RedisQuota) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, q.opts.Deadline)
}

// Reserve implements QuotaStore.
func (q *RedisQuota) Reserve(ctx context.Context, tenant string, need, want, limit int64) (int64, error) {
	ctx, cancel := q.ctx(ctx)
	defer cancel()
	g, err := reserveScript.Run(ctx, q.opts.Client, nil, q.key(tenant), need, want, limit).Int64()
	switch {
	case err != nil:
		return 0, q.failed("reserve", err)
	case g == -1:
		return 0, ErrQuotaFull
	case g == -2:
		return 0, ErrNotCounted
	}
	return g, nil
}

// Add implements QuotaStore.
func (q *RedisQuota) Add(ctx context.Context, tenant string, n int64) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := q.ctx(ctx)
	defer cancel()
	return q.failed("add", addScript.Run(ctx, q.opts.Client, nil, q.key(tenant), n).Err())
}

// Used returns tenant's shared usage; ErrNotCounted before the first
// count.
func (q *RedisQuota) Used(ctx context.Context, tenant string) (int64, error) {
	ctx, cancel := q.ctx(ctx)
	defer cancel()
	v, err := q.opts.Client.Get(ctx, q.key(tenant)+"used").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, ErrNotCounted
	}
	return v, q.failed("used", err)
}

// Reconcile implements QuotaStore: the lock's holder measures (no
// deadline but ctx: a walk of the tenant's tree) and stores the result.
func (q *RedisQuota) Reconcile(ctx context.Context, tenant string, measure func(context.Context) (int64, error)) (bool, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	cctx, cancel := q.ctx(ctx)
	ok, err := beginScript.Run(cctx, q.opts.Client, nil, q.key(tenant), token, countLockTTL.Milliseconds()).Int64()
	cancel()
	if err != nil || ok == 0 {
		return false, q.failed("count", err)
	}
	n, err := measure(ctx)
	if err != nil {
		cctx, cancel := q.ctx(context.Background())
		defer cancel()
		_ = q.opts.Client.Del(cctx, q.key(tenant)+"lock", q.key(tenant)+"delta").Err()
		return true, err
	}
	cctx, cancel = q.ctx(ctx)
	defer cancel()
	if err := endScript.Run(cctx, q.opts.Client, nil, q.key(tenant), token, strconv.FormatInt(n, 10)).Err(); err != nil {
		return true, q.failed("count", err)
	}
	return true, nil
}

var _ QuotaStore = (*RedisQuota)(nil)

// sharedQuota is what ShareQuota installs.
type sharedQuota struct {
	store QuotaStore
	step  int64
	kick  chan struct{} // asks for a count at once (a usage not counted)
}

// countNow asks the reconcile loop for a count at once.
func (sq *sharedQuota) countNow() {
	select {
	case sq.kick <- struct{}{}:
	default:
	}
}

// ShareQuota makes the byte quotas of d's tenants hold across the
// instances of a cluster through qs: sessions that log in from now on
// reserve their uploads' bytes there, step bytes at a time
// (DefaultQuotaStep when 0; the bound of RedisQuota's doc comment), and
// every `every` (DefaultQuotaReconcile when 0), starting now, one instance
// at a time counts each such tenant's storage again and stores the
// result (the other instances find the lock taken). Call it once, before
// serving; the counts stop when d closes. Files quotas stay per instance.
func (d *Driver) ShareQuota(qs QuotaStore, step int64, every time.Duration) {
	if step <= 0 {
		step = DefaultQuotaStep
	}
	if every <= 0 {
		every = DefaultQuotaReconcile
	}
	sq := &sharedQuota{store: qs, step: step, kick: make(chan struct{}, 1)}
	d.quota.Store(sq)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-d.done
		cancel()
	}()
	go d.reconcileQuotas(ctx, sq, every)
}

// reconcileQuotas counts, every `every`, once at once and when an upload
// finds a usage not counted (Redis restarted without its data), the
// storage of each tenant with a byte quota whose lock this instance
// takes: one tenant at a time, so that it holds at most one walk's bounds
// (usagewalk.go) beside the counter's.
func (d *Driver) reconcileQuotas(ctx context.Context, sq *sharedQuota, every time.Duration) {
	qs := sq.store
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		st := d.state.Load()
		for id, tn := range st.tenants {
			if ctx.Err() != nil {
				return
			}
			if tn.cfg.QuotaBytes <= 0 || tn.storage == nil {
				continue
			}
			storage := tn.storage
			counted, err := qs.Reconcile(ctx, id, func(ctx context.Context) (int64, error) { return measureStorage(ctx, storage) })
			if counted && err != nil {
				d.Logger.Warn("tenancy: counting the shared usage failed", "tenant", id, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-sq.kick:
		}
	}
}

// measureStorage counts the bytes of st's regular files, temporary upload
// files included (their uploads reserved them), removing nothing.
func measureStorage(ctx context.Context, st *storage) (int64, error) {
	if st.root != nil {
		s, err := walkTree(ctx, st.root, false, nil)
		return s.bytes, err
	}
	if u, ok := st.fs.(treeUsage); ok {
		b, _, err := u.Usage("/")
		return b, err
	}
	t, err := walkAfero(st.fs)
	return t.bytes, err
}
