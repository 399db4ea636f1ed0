package tenancy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
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
	// FailOpen: when Redis cannot be reached, true enforces the quotas
	// (bytes, files) against this instance's own count (what it counted
	// at start and the changes made through it: the tenant may then
	// overshoot by what the other instances store meanwhile); false
	// refuses uploads and new entries of tenants with a quota with 451
	// until Redis answers again. Removals and replacements go on in both
	// modes (RedisQuota: replacements and removals).
	FailOpen bool
	// OnError is told of every failed call; nil: logged only.
	OnError func(op string, err error)
}

// QuotaStore keeps the usage of tenants with a quota (bytes and files)
// shared by the instances of a cluster; without one (the default) each
// instance counts its own, which suits one instance. RedisQuota is the
// one implementation; Driver.ShareQuota installs it.
type QuotaStore interface {
	// Reserve adds at least need and at most want bytes to tenant's usage
	// unless need would pass limit, and returns what it added: want when
	// it fits, else what the quota leaves (at least need).
	// ErrQuotaFull refuses; ErrNotCounted means no count was made yet.
	Reserve(ctx context.Context, tenant string, need, want, limit int64) (int64, error)
	// ReserveFiles adds n entries to tenant's file count unless that
	// would pass limit (ErrQuotaFull; ErrNotCounted as Reserve).
	ReserveFiles(ctx context.Context, tenant string, n, limit int64) error
	// Add adds bytes and files (negative: removes) to tenant's usage,
	// never below zero.
	Add(ctx context.Context, tenant string, bytes, files int64) error
	// Reconcile counts tenant's usage with measure, as the cluster's one
	// counter of that tenant for now (a lock with a TTL), and stores it;
	// the lock then stays for hold, so that one instance counts per
	// period (0: released at once). It reports false when the lock is
	// taken, unless no count is stored (a Redis restarted empty).
	Reconcile(ctx context.Context, tenant string, hold time.Duration, measure func(context.Context) (StoredUsage, error)) (bool, error)
	// LockNames takes, cluster-wide, the names (paths in tenant's
	// storage) that a sequence looks at and then replaces or removes,
	// or the whole storage with TreeLock among them, and returns what
	// releases them. ErrNamesBusy: another instance held them longer
	// than the wait bound (nameLockWait); another error: the store
	// failed (the caller goes on under its own lock).
	LockNames(ctx context.Context, tenant string, names ...string) (func(), error)
	// FailOpen is the store's fail mode (RedisOptions.FailOpen).
	FailOpen() bool
}

// StoredUsage is what a count finds in a tenant's storage.
type StoredUsage struct {
	Bytes int64 // of regular files, temporary upload files included
	Files int64 // entries: files, directories, links
}

// TreeLock among the names of LockNames takes the tenant's whole storage
// (a removal of a tree, a rename of a directory: every name below moves).
const TreeLock = "*"

// Errors of QuotaStore.Reserve.
var (
	ErrQuotaFull  = errors.New("tenancy: the quota is used up")
	ErrNotCounted = errors.New("tenancy: the tenant's usage is not counted yet")
	// ErrNamesBusy is LockNames' refusal after nameLockWait.
	ErrNamesBusy = errors.New("tenancy: another instance holds the name")
)

// errQuotaUnknown refuses an upload when the shared usage cannot be read
// and the quota fails closed.
var errQuotaUnknown = &engine.ReplyError{Code: 451, Message: "The tenant's storage use cannot be checked now; try again later."}

// errNameBusy is the transient refusal of a change to a name another
// instance has been changing for longer than nameLockWait.
var errNameBusy = &engine.ReplyError{Code: 450, Message: "The name is being changed through another server of the cluster; try again in a moment."}

// DefaultQuotaStep is the bytes an upload reserves at a time in the shared
// usage; DefaultQuotaReconcile how often the usage is counted again.
const (
	DefaultQuotaStep      = 1 << 20
	DefaultQuotaReconcile = time.Minute
)

// The name leases of LockNames. A lease lasts nameLeaseTTL and its holder
// renews it every nameLeaseTTL/3 while it holds it, so an instance that
// dies (kill -9) frees its names within nameLeaseTTL; a change that finds
// its names taken polls for them at most nameLockWait (then 450), every
// nameLockPoll at most.
const (
	nameLeaseTTL  = 10 * time.Second
	nameLockWait  = 5 * time.Second
	nameLockPoll  = 20 * time.Millisecond
	nameLockFirst = time.Millisecond
)

// RedisQuota is the QuotaStore in Redis. Per tenant with a quota, with
// p = Prefix+"quota:"+tenant+":":
//
//	p+"used"    the tenant's bytes: settled files and what running
//	            uploads reserved; absent until the first count
//	p+"files"   the tenant's entries, as `used` (new entries reserved
//	            one by one when they are made)
//	p+"delta", p+"fdelta"
//	            what was added to each while a count runs (absent
//	            otherwise; their TTL is the lock's)
//	p+"lock"    the counting instance's token (TTL: countLockTTL), then
//	            "done:"+token until the next period
//	p+"ns:"+h   the token of the change that holds the name whose
//	            SHA-256 starts with h (TTL: nameLeaseTTL, renewed)
//	p+"nsheld"  the set of those h, for the tree lease
//	p+"nstree"  the token of the change that holds the whole storage
//
// Each tenant has six keys plus one name lease per change in flight (at
// most one per running command of its sessions, cluster-wide); every
// change is one Lua script, so two instances never both take the last
// bytes or both hold a name.
//
// The bound. An upload takes its bytes in steps of Step (the last one
// smaller, as the quota leaves) before it writes them, and a step that
// would pass the quota is refused (552); a new entry is reserved before
// it is made; so while no count runs, the bytes and entries stored never
// pass the quota. A count (Reconcile) replaces `used` with what it found
// plus what was added meanwhile (delta); what a running upload had
// reserved before the count began and wrote after the walk passed its
// file, or gave back after the count, is then missed. It is at most the
// part of one step that upload had not written when the count began (and
// its one entry, for an upload of a new name), so the usage can pass the
// quota by at most Step bytes and one entry per upload in flight during a
// count, until the next count. A count never misses a file that stays.
//
// Replacements and removals. What a change gives back is what it found at
// the name before replacing or removing it; it looks and changes while it
// holds the name's lease (LockNames; both names of a rename, the whole
// storage for a removal of a tree or a rename of a directory), so two
// instances replacing one name at once (RNTO, STOR over a file) give its
// bytes back once, on the os and the s3 backend alike: the lease does not
// depend on what the backend can tell of a replacement. The lease holds
// while its holder renews it, i.e. while Redis answers within Deadline
// at least once per nameLeaseTTL/3 (10 s / 3). When Redis is down or
// slower than Deadline, a lease that cannot be taken is passed by with a
// report to OnError, in both fail modes (the change goes on under this
// instance's own lock: fail closed already refused the uploads and new
// entries, and a removal stays possible); a lease not renewed lapses
// after nameLeaseTTL. In those cases only, two replacements of one name
// through two instances may both give back the file they both found, if
// Redis answers their give-backs: the usage then falls below what is
// stored by that file's size per such pair, until the next count
// (DefaultQuotaReconcile) repairs it. A change that finds its names held
// by another instance waits for them at most nameLockWait (5 s), then is
// refused with a transient 450; an instance killed while it holds names
// keeps them at most nameLeaseTTL. A change costs two Redis calls more
// (take and release), each bounded by Deadline.
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
	if err == nil || errors.Is(err, ErrQuotaFull) || errors.Is(err, ErrNotCounted) || errors.Is(err, ErrNamesBusy) {
		return err
	}
	if q.opts.OnError != nil {
		q.opts.OnError("quota."+op, err)
	} else {
		q.log.Warn("tenancy: shared quota", "op", op, "err", err)
	}
	return err
}

// reserveScript: ARGV = key prefix, need, want, limit, counter ("used"
// or "files"), its delta. -1: over the quota; -2: not counted.
var reserveScript = redis.NewScript(`
local p = ARGV[1]
local u = redis.call('GET', p .. ARGV[5])
if not u then return -2 end
local need, want, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local free = limit - tonumber(u)
if need > free then return -1 end
local g = math.max(need, math.min(want, free))
redis.call('INCRBY', p .. ARGV[5], g)
if redis.call('EXISTS', p .. ARGV[6]) == 1 then redis.call('INCRBY', p .. ARGV[6], g) end
return g
`)

// addScript: ARGV = key prefix, bytes, files.
var addScript = redis.NewScript(`
local p = ARGV[1]
local function add(k, d, n)
  if n == 0 or redis.call('EXISTS', p .. k) == 0 then return end
  local v = redis.call('INCRBY', p .. k, n)
  if v < 0 then redis.call('SET', p .. k, 0) end
  if n > 0 and redis.call('EXISTS', p .. d) == 1 then redis.call('INCRBY', p .. d, n) end
end
add('used', 'delta', tonumber(ARGV[2]))
add('files', 'fdelta', tonumber(ARGV[3]))
return 1
`)

// beginScript: ARGV = key prefix, token, ttl ms. The lock of a finished
// count ("done:") gives way when no count is stored.
var beginScript = redis.NewScript(`
local p = ARGV[1]
local v = redis.call('GET', p .. 'lock')
local stored = redis.call('EXISTS', p .. 'used') == 1 and redis.call('EXISTS', p .. 'files') == 1
if v and not (string.sub(v, 1, 5) == 'done:' and not stored) then return 0 end
redis.call('SET', p .. 'lock', ARGV[2], 'PX', ARGV[3])
redis.call('SET', p .. 'delta', 0, 'PX', ARGV[3])
redis.call('SET', p .. 'fdelta', 0, 'PX', ARGV[3])
return 1
`)

// endScript: ARGV = key prefix, token, bytes counted, files counted,
// hold ms.
var endScript = redis.NewScript(`
local p = ARGV[1]
if redis.call('GET', p .. 'lock') ~= ARGV[2] then return -1 end
local d = tonumber(redis.call('GET', p .. 'delta') or '0')
local fd = tonumber(redis.call('GET', p .. 'fdelta') or '0')
redis.call('SET', p .. 'used', tonumber(ARGV[3]) + d)
redis.call('SET', p .. 'files', tonumber(ARGV[4]) + fd)
redis.call('DEL', p .. 'delta', p .. 'fdelta', p .. 'lock')
if tonumber(ARGV[5]) > 0 then redis.call('SET', p .. 'lock', 'done:' .. ARGV[2], 'PX', ARGV[5]) end
return 1
`)

// abortScript: ARGV = key prefix, token. A failed count removes its
// lock and deltas, only while the lock is still its own: a count that
// outlived countLockTTL leaves the next counter's alone.
var abortScript = redis.NewScript(`
local p = ARGV[1]
if redis.call('GET', p .. 'lock') ~= ARGV[2] then return 0 end
redis.call('DEL', p .. 'delta', p .. 'fdelta', p .. 'lock')
return 1
`)

// lockNamesScript: ARGV = key prefix, token, ttl ms, name hashes ("*":
// the tree). 1: taken; 0: taken by another; 2 (the tree): the gate is
// this change's, so no new name is taken, but names taken before are
// still held (ask again with the same token). nsheld holds the names held
// and those whose lease lapsed unreleased (a killed instance, a release
// that failed); each name taken prunes two members at random and a tree
// asked for prunes them all, so the lapsed ones do not pile up.
var lockNamesScript = redis.NewScript(`
local p, tok, ttl = ARGV[1], ARGV[2], ARGV[3]
local tree = redis.call('GET', p .. 'nstree')
if tree and tree ~= tok then return 0 end
if ARGV[4] == '*' then
  redis.call('SET', p .. 'nstree', tok, 'PX', ttl)
  for _, h in ipairs(redis.call('SMEMBERS', p .. 'nsheld')) do
    if redis.call('EXISTS', p .. 'ns:' .. h) == 1 then return 2 end
    redis.call('SREM', p .. 'nsheld', h)
  end
  return 1
end
for i = 4, #ARGV do
  if redis.call('EXISTS', p .. 'ns:' .. ARGV[i]) == 1 then return 0 end
end
for _, h in ipairs(redis.call('SRANDMEMBER', p .. 'nsheld', 2)) do
  if redis.call('EXISTS', p .. 'ns:' .. h) == 0 then redis.call('SREM', p .. 'nsheld', h) end
end
for i = 4, #ARGV do
  redis.call('SET', p .. 'ns:' .. ARGV[i], tok, 'PX', ttl)
  redis.call('SADD', p .. 'nsheld', ARGV[i])
end
return 1
`)

// renewNamesScript: ARGV = key prefix, token, ttl ms, name hashes.
// Returns how many leases were still this change's.
var renewNamesScript = redis.NewScript(`
local p, tok, ttl = ARGV[1], ARGV[2], ARGV[3]
local n = 0
for i = 4, #ARGV do
  local k = p .. 'ns:' .. ARGV[i]
  if ARGV[i] == '*' then k = p .. 'nstree' end
  if redis.call('GET', k) == tok then
    redis.call('PEXPIRE', k, ttl)
    n = n + 1
  end
end
return n
`)

// unlockNamesScript: ARGV = key prefix, token, name hashes. Only this
// change's leases go: one that lapsed and was taken again stays.
var unlockNamesScript = redis.NewScript(`
local p, tok = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  local k = p .. 'ns:' .. ARGV[i]
  if ARGV[i] == '*' then k = p .. 'nstree' end
  if redis.call('GET', k) == tok then
    redis.call('DEL', k)
    if ARGV[i] ~= '*' then redis.call('SREM', p .. 'nsheld', ARGV[i]) end
  end
end
return 1
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
	return q.reserve(ctx, "reserve", tenant, "used", "delta", need, want, limit)
}

// ReserveFiles implements QuotaStore.
func (q *RedisQuota) ReserveFiles(ctx context.Context, tenant string, n, limit int64) error {
	_, err := q.reserve(ctx, "reserve_files", tenant, "files", "fdelta", n, n, limit)
	return err
}

func (q *RedisQuota) reserve(ctx context.Context, op, tenant, counter, delta string, need, want, limit int64) (int64, error) {
	ctx, cancel := q.ctx(ctx)
	defer cancel()
	g, err := reserveScript.Run(ctx, q.opts.Client, nil, q.key(tenant), need, want, limit, counter, delta).Int64()
	switch {
	case err != nil:
		return 0, q.failed(op, err)
	case g == -1:
		return 0, ErrQuotaFull
	case g == -2:
		return 0, ErrNotCounted
	}
	return g, nil
}

// Add implements QuotaStore.
func (q *RedisQuota) Add(ctx context.Context, tenant string, bytes, files int64) error {
	if bytes == 0 && files == 0 {
		return nil
	}
	ctx, cancel := q.ctx(ctx)
	defer cancel()
	return q.failed("add", addScript.Run(ctx, q.opts.Client, nil, q.key(tenant), bytes, files).Err())
}

// Used returns tenant's shared byte usage; ErrNotCounted before the
// first count.
func (q *RedisQuota) Used(ctx context.Context, tenant string) (int64, error) {
	u, err := q.Usage(ctx, tenant)
	return u.Bytes, err
}

// Usage returns tenant's shared usage; ErrNotCounted before the first
// count.
func (q *RedisQuota) Usage(ctx context.Context, tenant string) (StoredUsage, error) {
	ctx, cancel := q.ctx(ctx)
	defer cancel()
	vs, err := q.opts.Client.MGet(ctx, q.key(tenant)+"used", q.key(tenant)+"files").Result()
	if err != nil {
		return StoredUsage{}, q.failed("used", err)
	}
	var n [2]int64
	for i, v := range vs {
		s, ok := v.(string)
		if !ok {
			return StoredUsage{}, ErrNotCounted
		}
		if n[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return StoredUsage{}, q.failed("used", err)
		}
	}
	return StoredUsage{Bytes: n[0], Files: n[1]}, nil
}

// Reconcile implements QuotaStore: the lock's holder measures (no
// deadline but ctx: a walk of the tenant's tree) and stores the result.
func (q *RedisQuota) Reconcile(ctx context.Context, tenant string, hold time.Duration, measure func(context.Context) (StoredUsage, error)) (bool, error) {
	token := newToken()
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
		_ = abortScript.Run(cctx, q.opts.Client, nil, q.key(tenant), token).Err()
		return true, err
	}
	cctx, cancel = q.ctx(ctx)
	defer cancel()
	if err := endScript.Run(cctx, q.opts.Client, nil, q.key(tenant), token, strconv.FormatInt(n.Bytes, 10), strconv.FormatInt(n.Files, 10), hold.Milliseconds()).Err(); err != nil {
		return true, q.failed("count", err)
	}
	return true, nil
}

// newToken returns a random token naming one holder of a lock.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// nameHash is the key of a name's lease: the first 128 bits of its
// SHA-256, so that a key's length does not grow with the name's.
func nameHash(name string) string {
	if name == TreeLock {
		return TreeLock
	}
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:16])
}

// LockNames implements QuotaStore: it polls (nameLockFirst, doubling up
// to nameLockPoll) for at most nameLockWait, each call within Deadline,
// and renews the leases every nameLeaseTTL/3 until released. A failed
// call returns its error (the caller applies FailOpen); a tree lease not
// completed within the wait is given up.
func (q *RedisQuota) LockNames(ctx context.Context, tenant string, names ...string) (func(), error) {
	args := []any{q.key(tenant), newToken(), nameLeaseTTL.Milliseconds()}
	if slices.Contains(names, TreeLock) {
		args = append(args, TreeLock)
	} else {
		seen := map[string]bool{}
		for _, n := range names {
			if h := nameHash(n); !seen[h] {
				seen[h] = true
				args = append(args, h)
			}
		}
	}
	release := func() {
		cctx, cancel := q.ctx(context.Background())
		defer cancel()
		rel := append([]any{args[0], args[1]}, args[3:]...)
		_ = q.failed("unlock", unlockNamesScript.Run(cctx, q.opts.Client, nil, rel...).Err())
	}
	wait := time.NewTimer(nameLockWait)
	defer wait.Stop()
	poll := nameLockFirst
	for {
		cctx, cancel := q.ctx(ctx)
		got, err := lockNamesScript.Run(cctx, q.opts.Client, nil, args...).Int64()
		cancel()
		if err != nil {
			// The script may have run before the deadline passed: what
			// it took goes at once rather than after nameLeaseTTL.
			release()
			return nil, q.failed("lock", err)
		}
		if got == 1 {
			break
		}
		t := time.NewTimer(poll)
		select {
		case <-t.C:
		case <-wait.C:
			// The tree's gate, if this change set it, opens again
			// (releasing what is not this change's removes nothing).
			t.Stop()
			release()
			return nil, ErrNamesBusy
		case <-ctx.Done():
			t.Stop()
			release()
			return nil, ctx.Err()
		}
		poll = min(2*poll, nameLockPoll)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(nameLeaseTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				cctx, cancel := q.ctx(context.Background())
				_ = q.failed("renew", renewNamesScript.Run(cctx, q.opts.Client, nil, args...).Err())
				cancel()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-stopped
			release()
		})
	}, nil
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

// ShareQuota makes the quotas (bytes and files) of d's tenants hold
// across the instances of a cluster through qs: sessions that log in from
// now on reserve their uploads' bytes there, step bytes at a time
// (DefaultQuotaStep when 0; the bound of RedisQuota's doc comment), and
// their new entries one by one; they replace and remove names under the
// cluster-wide leases of qs.LockNames; and every `every`
// (DefaultQuotaReconcile when 0), starting now, one instance at a time
// counts each such tenant's storage again and stores the result (the
// other instances find the lock taken: one count per tenant and period
// in the cluster). Call it once, before serving; the counts stop when d
// closes.
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
// storage of each tenant with a quota whose lock this instance
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
			if (tn.cfg.QuotaBytes <= 0 && tn.cfg.QuotaFiles <= 0) || tn.storage == nil {
				continue
			}
			storage := tn.storage
			// The lock stays a little less than a period: the next tick
			// of whichever instance comes first counts again.
			counted, err := qs.Reconcile(ctx, id, every*9/10, func(ctx context.Context) (StoredUsage, error) { return measureStorage(ctx, storage) })
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
// files included (their uploads reserved them), and its entries, as the
// instance's own count does (temporary files are no entries), removing
// nothing.
func measureStorage(ctx context.Context, st *storage) (StoredUsage, error) {
	if st.root != nil {
		s, err := walkTree(ctx, st.root, false, nil)
		return StoredUsage{Bytes: s.bytes, Files: s.files}, err
	}
	if u, ok := st.fs.(treeUsage); ok {
		b, n, err := u.Usage(ctx, "/")
		return StoredUsage{Bytes: b, Files: n}, err
	}
	t, err := walkAfero(st.fs)
	return StoredUsage{Bytes: t.bytes, Files: t.files}, err
}
