package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// RedisOptions connect a plugin's shared state to the cluster's Redis
// (the shape every plugin of ftpgate's cluster takes; the gateway builds
// it from [cluster]).
type RedisOptions struct {
	// Client is shared by every store of the process.
	Client redis.UniversalClient
	// Prefix starts every key of this cluster, e.g. "ftpgate:"; the
	// policy store adds "pol:".
	Prefix string
	// Deadline bounds each call (default 50 ms); a call carrying a
	// module's bytes gets moduleDeadline at least.
	Deadline time.Duration
	// FailOpen chooses what an instance does when it cannot read the
	// store at start: true serves without policies (logged); false
	// refuses every command of every tenant with 451 until the store has
	// been read (see Runtime.Evaluate). Once read, policies go on ruling
	// with the last compiled modules through an outage in both modes.
	FailOpen bool
	// OnError is told of every failed call (the gateway counts and logs
	// it); nil: logged only.
	OnError func(op string, err error)
}

// moduleDeadline is the least deadline of a call that carries a module's
// bytes (up to MaxModuleSize): an admin upload or a reconcile, never a
// command's path.
const moduleDeadline = 5 * time.Second

// RedisStore is the policy Storage shared by the instances of a cluster,
// in a Redis with persistence (appendonly yes; see RATIONALE.md, "Policies
// live in Redis"). With p = Prefix+"pol:":
//
//	p+"m:"+sha256   the module's bytes, stored once whoever uploads them
//	p+"r:"+sha256   the set of tenants whose record names the module
//	p+"t:"+tenant   the tenant's record: a hash of sha256, prev (the
//	                module before, kept for a rollback), meta (Record as
//	                JSON), prevmeta (prev's meta) and gen (the generation
//	                of the change)
//	p+"q:"+tenant   the tenant's quarantine mark (JSON), removed by Save
//	                and Delete
//	p+"tenants"     the set of tenants with a record
//	p+"gen"         the policy generation: incremented by every change
//	p+"changed"     the channel each change is published on (payload:
//	                the tenant)
//
// Bounds: keys are named by tenant ids (conf.ValidTenantID, checked
// before any call; the admin API lets a tenant's token name only its own
// tenant), so there are at most 2 per tenant plus 2 per module, and at
// most 2 modules per tenant (its current and previous one) are
// referenced; a module is removed with its last reference. Redis holds at
// most 2 × tenants × MaxModuleSize of modules. Every change (Save,
// Delete, the quarantine mark) is one Lua script, so a record never names
// a missing module. The scripts name keys they compute, so they need one
// Redis (standalone or with replicas), not Redis Cluster.
//
// Nothing read from Redis is trusted: Load checks the bytes against the
// record's hash and MaxModuleSize, and every module is compiled and
// validated with the runtime's bounds by each instance (Sync).
type RedisStore struct {
	opts      RedisOptions
	p         string
	maxModule int
	log       *slog.Logger

	// big is Client for the calls that carry a module's bytes.
	big redis.UniversalClient

	// noPublish keeps Save and Delete from publishing (tests: a lost
	// notification, which the reconcile must repair).
	noPublish bool

	// known are the tenants whose record this instance has read or
	// written: only their policies are removed when the store drops
	// them, not those installed by other means (Options.Policies:
	// `serve --policy`). A Save marks its tenant at once, so that a
	// record deleted elsewhere before this instance's follower read it
	// still takes the policy away. Bounded by the tenants with a record.
	knownMu sync.Mutex
	known   map[string]bool
}

// setKnown marks (or, with k false, forgets) tenant as ruled by the store.
func (s *RedisStore) setKnown(tenant string, k bool) {
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	if k {
		s.known[tenant] = true
	} else {
		delete(s.known, tenant)
	}
}

// isKnown reports whether tenant's policy came from the store.
func (s *RedisStore) isKnown(tenant string) bool {
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	return s.known[tenant]
}

// NewRedisStore returns the store; maxModule is the runtime's
// MaxModuleSize (Runtime.Config().MaxModuleSize), the bound of every
// module written or read; log defaults to slog.Default().
func NewRedisStore(opts RedisOptions, maxModule int, log *slog.Logger) *RedisStore {
	if opts.Deadline <= 0 {
		opts.Deadline = 50 * time.Millisecond
	}
	if log == nil {
		log = slog.Default()
	}
	s := &RedisStore{opts: opts, p: opts.Prefix + "pol:", maxModule: maxModule, log: log, big: opts.Client, known: map[string]bool{}}
	// A client whose socket timeouts are the (short) deadline would cut
	// a module's transfer: calls carrying one use a clone with
	// moduleDeadline, on the same connections.
	if c, ok := opts.Client.(interface {
		WithTimeout(time.Duration) *redis.Client
	}); ok {
		s.big = c.WithTimeout(max(opts.Deadline, moduleDeadline))
	}
	return s
}

func (s *RedisStore) recKey(tenant string) string { return s.p + "t:" + tenant }
func (s *RedisStore) qKey(tenant string) string   { return s.p + "q:" + tenant }
func (s *RedisStore) modKey(hash string) string   { return s.p + "m:" + hash }
func (s *RedisStore) channel() string             { return s.p + "changed" }

// String names the store in log lines.
func (s *RedisStore) String() string { return "redis " + s.p }

// ctx returns a context with the store's deadline, or moduleDeadline
// for a call carrying a module.
func (s *RedisStore) ctx(module bool) (context.Context, context.CancelFunc) {
	d := s.opts.Deadline
	if module {
		d = max(d, moduleDeadline)
	}
	return context.WithTimeout(context.Background(), d)
}

// failed reports err to OnError and returns it.
func (s *RedisStore) failed(op string, err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, errBadTenant) {
		return err
	}
	if s.opts.OnError != nil {
		s.opts.OnError("policy."+op, err)
	} else {
		s.log.Warn("policy: redis store", "op", op, "err", err)
	}
	return fmt.Errorf("policy store: %w", err)
}

// unref drops tenant's reference to module h and removes the module with
// its last reference (a helper of the scripts below).
const luaUnref = `
local function unref(p, h, tenant)
  if h == false or h == '' then return end
  local rk = p .. 'r:' .. h
  redis.call('SREM', rk, tenant)
  if redis.call('SCARD', rk) == 0 then
    redis.call('DEL', rk, p .. 'm:' .. h)
  end
end
`

// saveScript: ARGV = prefix, tenant, sha256, wasm, meta, publish.
var saveScript = redis.NewScript(luaUnref + `
local p, tenant, sha = ARGV[1], ARGV[2], ARGV[3]
local rk = p .. 't:' .. tenant
local old = redis.call('HGET', rk, 'sha256')
local oldprev = redis.call('HGET', rk, 'prev')
local prevmeta = redis.call('HGET', rk, 'prevmeta') or ''
if redis.call('EXISTS', p .. 'm:' .. sha) == 0 then
  redis.call('SET', p .. 'm:' .. sha, ARGV[4])
end
redis.call('SADD', p .. 'r:' .. sha, tenant)
local prev = oldprev or ''
if old and old ~= sha then
  prev = old
  prevmeta = redis.call('HGET', rk, 'meta') or ''
end
if oldprev and oldprev ~= sha and oldprev ~= prev then unref(p, oldprev, tenant) end
local g = redis.call('INCR', p .. 'gen')
redis.call('HSET', rk, 'sha256', sha, 'prev', prev, 'meta', ARGV[5], 'prevmeta', prevmeta, 'gen', g)
redis.call('SADD', p .. 'tenants', tenant)
redis.call('DEL', p .. 'q:' .. tenant)
if ARGV[6] == '1' then redis.call('PUBLISH', p .. 'changed', tenant) end
return g
`)

// deleteScript: ARGV = prefix, tenant, publish. It returns -1 when the
// tenant has no record.
var deleteScript = redis.NewScript(luaUnref + `
local p, tenant = ARGV[1], ARGV[2]
local rk = p .. 't:' .. tenant
local sha = redis.call('HGET', rk, 'sha256')
if not sha then return -1 end
unref(p, sha, tenant)
local prev = redis.call('HGET', rk, 'prev')
if prev ~= sha then unref(p, prev, tenant) end
redis.call('DEL', rk, p .. 'q:' .. tenant)
redis.call('SREM', p .. 'tenants', tenant)
local g = redis.call('INCR', p .. 'gen')
if ARGV[3] == '1' then redis.call('PUBLISH', p .. 'changed', tenant) end
return g
`)

// quarantineScript: ARGV = prefix, tenant, sha256, mark. The mark is set
// only while the tenant's record still names that module.
var quarantineScript = redis.NewScript(`
local p, tenant = ARGV[1], ARGV[2]
if redis.call('HGET', p .. 't:' .. tenant, 'sha256') ~= ARGV[3] then return 0 end
redis.call('SET', p .. 'q:' .. tenant, ARGV[4])
return 1
`)

func (s *RedisStore) publishArg() string {
	if s.noPublish {
		return "0"
	}
	return "1"
}

// Save stores wasm as tenant's module with rec's settings, in one script:
// the module (if new), the record (the old module becomes prev), the
// generation, and the notification of every instance.
func (s *RedisStore) Save(tenant string, wasm []byte, rec Record) error {
	if conf.ValidTenantID(tenant) != nil {
		return errBadTenant
	}
	if len(wasm) > s.maxModule {
		return fmt.Errorf("policy store: module of %d bytes over the limit of %d", len(wasm), s.maxModule)
	}
	sum := sha256.Sum256(wasm)
	rec.SHA256 = hex.EncodeToString(sum[:])
	meta, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx(true)
	defer cancel()
	err = saveScript.Run(ctx, s.big, nil, s.p, tenant, rec.SHA256, wasm, meta, s.publishArg()).Err()
	if err == nil {
		s.setKnown(tenant, true)
	}
	return s.failed("save", err)
}

// Load returns tenant's module and record; fs.ErrNotExist when it has
// none. Bytes that do not match the record's hash, or over the module
// size bound, are a *ValidationError (quarantined as a refused module).
func (s *RedisStore) Load(tenant string) ([]byte, Record, error) {
	rec, err := s.record(tenant)
	if err != nil {
		return nil, rec, err
	}
	wasm, err := s.module(tenant, rec.SHA256)
	return wasm, rec, err
}

// module reads the module named hash, checked against its hash and the
// module size bound (a *ValidationError when it fails them).
func (s *RedisStore) module(tenant, hash string) ([]byte, error) {
	ctx, cancel := s.ctx(true)
	defer cancel()
	n, err := s.opts.Client.StrLen(ctx, s.modKey(hash)).Result()
	if err != nil {
		return nil, s.failed("load", err)
	}
	if n > int64(s.maxModule) {
		return nil, invalid("the stored module is %d bytes; the limit is %d", n, s.maxModule)
	}
	wasm, err := s.big.Get(ctx, s.modKey(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("policy store: the module of tenant %s is missing", tenant)
	}
	if err != nil {
		return nil, s.failed("load", err)
	}
	if len(wasm) > s.maxModule {
		return nil, invalid("the stored module is %d bytes; the limit is %d", len(wasm), s.maxModule)
	}
	if sum := sha256.Sum256(wasm); hex.EncodeToString(sum[:]) != hash {
		return nil, invalid("the stored module does not match its hash")
	}
	return wasm, nil
}

// Previous returns the module and record that tenant's current record
// replaced, for a rollback; ErrNoPrevious when there is none.
func (s *RedisStore) Previous(tenant string) ([]byte, Record, error) {
	rec, err := s.PreviousRecord(tenant)
	if err != nil {
		return nil, rec, err
	}
	wasm, err := s.module(tenant, rec.SHA256)
	return wasm, rec, err
}

// PreviousRecord returns the record Previous returns, without fetching
// its module (up to MaxModuleSize): what a page offering the rollback
// shows.
func (s *RedisStore) PreviousRecord(tenant string) (Record, error) {
	var rec Record
	if conf.ValidTenantID(tenant) != nil {
		return rec, errBadTenant
	}
	ctx, cancel := s.ctx(false)
	defer cancel()
	vals, err := s.opts.Client.HMGet(ctx, s.recKey(tenant), "sha256", "prev", "prevmeta").Result()
	if err != nil {
		return rec, s.failed("previous", err)
	}
	sha, _ := vals[0].(string)
	prev, _ := vals[1].(string)
	meta, _ := vals[2].(string)
	if sha == "" {
		return rec, fs.ErrNotExist
	}
	if prev == "" || prev == sha || meta == "" {
		return rec, ErrNoPrevious
	}
	if err := decodeMeta(tenant, prev, meta, &rec); err != nil {
		return rec, err
	}
	rec.Previous = nil
	return rec, nil
}

// record reads tenant's record: the hash from the record's own field,
// the rest from its meta.
func (s *RedisStore) record(tenant string) (Record, error) {
	var rec Record
	if conf.ValidTenantID(tenant) != nil {
		return rec, errBadTenant
	}
	ctx, cancel := s.ctx(false)
	defer cancel()
	vals, err := s.opts.Client.HMGet(ctx, s.recKey(tenant), "sha256", "meta").Result()
	if err != nil {
		return rec, s.failed("record", err)
	}
	sha, _ := vals[0].(string)
	meta, _ := vals[1].(string)
	if sha == "" {
		return rec, fs.ErrNotExist
	}
	err = decodeMeta(tenant, sha, meta, &rec)
	return rec, err
}

// decodeMeta fills rec from a record's meta, its hash from sha: both as
// read from Redis, so bounded and checked.
func decodeMeta(tenant, sha, meta string, rec *Record) error {
	if len(meta) > maxRecordMeta {
		return fmt.Errorf("policy store: the record of tenant %s is too large", tenant)
	}
	if err := json.Unmarshal([]byte(meta), rec); err != nil {
		return fmt.Errorf("policy store: the record of tenant %s: %w", tenant, err)
	}
	if _, err := hex.DecodeString(sha); err != nil || len(sha) != 64 {
		return fmt.Errorf("policy store: the record of tenant %s: bad sha256", tenant)
	}
	rec.SHA256 = sha
	return nil
}

// maxRecordMeta bounds a record's meta read back: the config query value
// of an upload is bounded by the admin server's URL limit, far below.
const maxRecordMeta = 1 << 20

// Delete removes tenant's record; fs.ErrNotExist when it has none.
func (s *RedisStore) Delete(tenant string) error {
	if conf.ValidTenantID(tenant) != nil {
		return errBadTenant
	}
	ctx, cancel := s.ctx(false)
	defer cancel()
	g, err := deleteScript.Run(ctx, s.opts.Client, nil, s.p, tenant, s.publishArg()).Int64()
	if err != nil {
		return s.failed("delete", err)
	}
	if g < 0 {
		return fs.ErrNotExist
	}
	return nil
}

// Tenants lists the tenants with a stored policy (invalid ids skipped).
func (s *RedisStore) Tenants() ([]string, error) {
	ctx, cancel := s.ctx(false)
	defer cancel()
	ids, err := s.opts.Client.SMembers(ctx, s.p+"tenants").Result()
	if err != nil {
		return nil, s.failed("tenants", err)
	}
	out := ids[:0]
	for _, t := range ids {
		if conf.ValidTenantID(t) == nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// Generation returns the policy generation: 0 for a store that never saw
// a change (or lost its data).
func (s *RedisStore) Generation() (int64, error) {
	ctx, cancel := s.ctx(false)
	defer cancel()
	g, err := s.opts.Client.Get(ctx, s.p+"gen").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, s.failed("generation", err)
	}
	return g, nil
}

// quarantined returns tenant's quarantine mark, if any.
func (s *RedisStore) quarantined(tenant string) (quarantineMark, bool) {
	var q quarantineMark
	ctx, cancel := s.ctx(false)
	defer cancel()
	b, err := s.opts.Client.Get(ctx, s.qKey(tenant)).Bytes()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			_ = s.failed("quarantined", err)
		}
		return q, false
	}
	if len(b) > maxRecordMeta || json.Unmarshal(b, &q) != nil {
		return q, false
	}
	return q, true
}

// markQuarantined marks tenant's module hash quarantined for every
// instance, unless tenant's record has moved on to another module.
func (s *RedisStore) markQuarantined(tenant, hash, reason string) {
	b, _ := json.Marshal(quarantineMark{SHA256: hash, Reason: reason, At: time.Now().UTC()})
	ctx, cancel := s.ctx(false)
	defer cancel()
	_ = s.failed("quarantine", quarantineScript.Run(ctx, s.opts.Client, nil, s.p, tenant, hash, b).Err())
}

// unreadable: with FailOpen false, a store that cannot be read at start
// leaves every tenant's policy unknown, so the runtime refuses every
// command until Sync has read the store.
func (s *RedisStore) unreadable(r *Runtime) {
	if !s.opts.FailOpen {
		r.unknown.Store(true)
		s.log.Error("policy: the shared policy store cannot be read; every command is refused until it can (fail closed)")
		return
	}
	s.log.Error("policy: the shared policy store cannot be read; serving without policies until it can (fail open)")
}
