// Package redisstate keeps ratelimit's shared state (ratelimit.Shared) in
// Redis, so that the instances of a cluster behind a load balancer
// enforce one set of limits: failed-login scores and bans, sessions per
// user and per tenant, a tenant's command rate and an address's rate of
// new connections.
//
// Every decision is one Lua script, atomic in Redis and timed by Redis
// (TIME), so that instances' clocks do not matter. Every call runs under
// RedisOptions.Deadline, and the calls of one login (with its
// connection's admission) under one deadline in all: the limiter passes a
// ratelimit.Budget in their context, and a call after one that failed is
// not made. An error is reported to RedisOptions.OnError and returned, and the limiter then applies the feature's failure mode
// (RedisOptions.FailOpen): serve from its local tables, or refuse with
// 421. Nothing is kept that needs a restart: once Redis answers again,
// the next call uses it (go-redis reconnects), and the heartbeat puts
// this instance's live sessions back into a Redis that lost them.
//
// # Keys
//
// Every key starts with RedisOptions.Prefix and "rl:". Parts a client
// chooses are encoded so that no two map to one key: an account is
// "<len(tenant)>:<tenant>/<user>" (the length decides where the tenant
// ends), or "<len(tenant)>:<tenant>#<sha256(user)>" for a user name
// longer than 128 bytes (so that a key's size does not grow with a
// client's name), an address is its limiter prefix ("192.0.2.7/32",
// "2001:db8::/64": the address masked as the in-memory tables key it,
// IPv4-mapped forms folded to IPv4). Every key has a TTL:
//
//	rl:ban:<prefix>    hash until, offences   the ban's length + Config.BanMemory
//	rl:bans            sorted set of bans     Config.MaxBanTime; at most Config.MaxBans members
//	rl:bmem            sorted set of ban keys Config.MaxBanTime + Config.BanMemory; at most Config.MaxBans members
//	rl:fa:<prefix>     address failure score  Config.LoginWindow
//	rl:fu:<account>    account failure score  Config.LoginWindow
//	rl:fx:<tenant>     its scored users       Config.LoginWindow; at most Config.MaxTrackedUsers members
//	rl:ia:, rl:iu:     logins in flight       InFlightTTL
//	rl:cr:<prefix>     connection-rate bucket the bucket's refill time + 1 s
//	rl:cmd:<tenant>    command-rate bucket    the bucket's refill time + 1 s
//	rl:su:<account>    user's session leases  Lease
//	rl:st:<tenant>     tenant's session leases Lease
//
// The account scores are bounded per tenant: rl:fx:<tenant> lists the
// users of the tenant with a score, and when a failure would make more
// than Config.MaxTrackedUsers of them, the one whose last failure is
// oldest loses its score (as the local table forgets the least recently
// used). A spray of made-up user names, which resolve to no account but
// must be scored like real ones (or the replies would tell which names
// exist), so holds at most MaxTrackedUsers+1 keys per tenant the resolver
// returns (the tenancy driver: the configured tenants, and "" for logins
// that name none), besides the in-flight counters of the logins being
// checked, each deleted when its login ends.
//
// The ban keys are bounded likewise: a ban's key keeps its offences for
// Config.BanMemory after the ban ends, and rl:bmem lists every ban key by
// the end of that memory, at most Config.MaxBans of them (the memory that
// ends first goes), as the local ban table keeps at most that many. A
// client with many addresses (an IPv6 range) so holds at most MaxBans ban
// keys, not one per address banned within a day.
//
// The scripts touch keys of one address or account and the ban index
// together: a single Redis (or a primary with replicas), not Redis
// Cluster.
package redisstate

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/redis/go-redis/v9"
)

// RedisOptions are how one feature of a Store reaches Redis, the shape
// every plugin's store takes (the cluster package's FeatureOptions
// converts to it).
type RedisOptions struct {
	// Client is the Redis client, shared by every store of the process.
	Client redis.UniversalClient
	// Prefix is the key prefix of this cluster ("ftpgate:"); the store
	// adds "rl:". The three features of a Store use the Bans one.
	Prefix string
	// Deadline bounds each call a login, a connection or a command
	// waits for (default DefaultDeadline), and the calls of one login
	// together (ratelimit.Budget). Admin calls (Bans, Lift) get
	// at least AdminDeadline: they hold no client.
	Deadline time.Duration
	// FailOpen says what happens when Redis is down or slow: true, the
	// limiter's local tables decide; false, the login, connection or
	// command is refused with 421 "Service not available".
	FailOpen bool
	// OnError, when not nil, is told of every failed call (op names it:
	// "ratelimit.admit", ...): the gateway counts and logs it.
	OnError func(op string, err error)
}

// Options configure a Store: one RedisOptions per feature (the
// [cluster.fail] keys bans, sessions and rates), and the session lease.
type Options struct {
	// Bans: failed-login scores and bans (and the ban check of a new
	// connection).
	Bans RedisOptions
	// Sessions: sessions per user and per tenant.
	Sessions RedisOptions
	// Rates: a tenant's command rate and an address's connection rate.
	Rates RedisOptions
	// Lease is how long a session slot lives without its instance
	// renewing it (every Lease/3): an instance that dies frees its
	// sessions' slots within Lease. Default DefaultLease.
	Lease time.Duration
}

// Same returns Options with o for every feature.
func Same(o RedisOptions) Options { return Options{Bans: o, Sessions: o, Rates: o} }

// Defaults and bounds.
const (
	// DefaultDeadline is RedisOptions.Deadline's default.
	DefaultDeadline = 50 * time.Millisecond
	// DefaultLease is RedisOptions.Lease's default.
	DefaultLease = 15 * time.Second
	// AdminDeadline is the least deadline of Bans and Lift, which read
	// up to Config.MaxBans entries for an admin request.
	AdminDeadline = 2 * time.Second
	// InFlightTTL bounds how long a login in flight holds its slot when
	// its instance dies before giving it back (a password check takes
	// far less). The TTL is the counter's, renewed by each new login of
	// the address or account: a slot left by a dead instance goes once
	// the key has been idle that long, and until then costs its address
	// or account one attempt of the threshold.
	InFlightTTL = time.Minute
	// DefaultMaxAccounts is the most account failure scores kept per
	// tenant when BanRules.MaxAccounts is 0 (Config.MaxTrackedUsers's
	// default).
	DefaultMaxAccounts = 65536
	// renewBatch is how many session holds one heartbeat round trip
	// renews.
	renewBatch = 256
)

// Store is a ratelimit.Shared in Redis. Make it with New; Close stops its
// heartbeat. Its methods are safe for concurrent use.
type Store struct {
	f        [3]RedisOptions // by feature: fBans, fSessions, fRates
	lease    time.Duration
	p        string // the Bans prefix + "rl:"
	instance string // names this process's session holds
	seq      atomic.Uint64

	mu    sync.Mutex
	holds map[string]*ratelimit.SessionHold // live holds, renewed by the heartbeat; bounded by the sessions of this instance

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// The features, as Store.f indexes them.
const (
	fBans = iota
	fSessions
	fRates
)

var _ ratelimit.Shared = (*Store)(nil)

// New returns a Store and starts its heartbeat, which renews the session
// leases this instance holds every Lease/3 until Close.
func New(o Options) (*Store, error) {
	s := &Store{f: [3]RedisOptions{o.Bans, o.Sessions, o.Rates}, lease: o.Lease}
	for i := range s.f {
		if s.f[i].Client == nil {
			return nil, errors.New("redisstate: no Redis client")
		}
		if s.f[i].Deadline <= 0 {
			s.f[i].Deadline = DefaultDeadline
		}
	}
	if s.lease <= 0 {
		s.lease = DefaultLease
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s.p, s.instance = o.Bans.Prefix+"rl:", hex.EncodeToString(id[:])
	s.holds = map[string]*ratelimit.SessionHold{}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.heartbeat()
	return s, nil
}

// Close stops the heartbeat; the leases it held expire within Lease.
func (s *Store) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// FailOpen implements ratelimit.Shared.
func (s *Store) FailOpen(feature string) bool {
	switch feature {
	case ratelimit.FeatureSessions:
		return s.f[fSessions].FailOpen
	case ratelimit.FeatureRates:
		return s.f[fRates].FailOpen
	}
	return s.f[fBans].FailOpen
}

// call runs fn with feature f's client under its deadline (or d when
// longer), reporting an error to f's OnError. When ctx carries a
// ratelimit.Budget (the calls of one login), the call waits at most what
// is left of it, and is not made at all (ratelimit.ErrBudgetSpent) once
// an earlier call of the login failed: a slow Redis costs a login one
// deadline, not one per call.
func (s *Store) call(ctx context.Context, f int, op string, d time.Duration, fn func(ctx context.Context, c redis.UniversalClient) error) error {
	o := &s.f[f]
	wait := max(o.Deadline, d)
	b := ratelimit.BudgetOf(ctx)
	if b != nil {
		left, ok := b.Start(o.Deadline)
		if !ok {
			if o.OnError != nil {
				o.OnError(op, ratelimit.ErrBudgetSpent)
			}
			return ratelimit.ErrBudgetSpent
		}
		wait = left
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start := time.Now()
	err := fn(ctx, o.Client)
	if b != nil {
		b.Spent(time.Since(start), err != nil)
	}
	if err != nil && o.OnError != nil {
		o.OnError(op, err)
	}
	return err
}

// maxKeyUser is the longest user name a key spells out. A login's name
// is the client's (up to the engine's 8 KiB command line), and the scores
// of made-up names are bounded in count per tenant (MaxTrackedUsers), not
// in size: spelt out, 65536 names of 8 KiB would cost a tenant about a
// gigabyte of keys and index members. A longer name is keyed by its
// SHA-256 instead (64 hex digits).
const maxKeyUser = 128

// account encodes a (tenant, user) pair: no two pairs give one string.
// The tenant's length says where it ends; then "/" and the user, or "#"
// and the SHA-256 of a user longer than maxKeyUser, so that a name spelt
// out never meets a hashed one.
func account(tenant, user string) string {
	return accountTenant(tenant) + accountUser(user)
}

// accountTenant is the part of account before the user: the tenant's
// accounts' keys are it followed by accountUser.
func accountTenant(tenant string) string { return strconv.Itoa(len(tenant)) + ":" + tenant }

// accountUser is the user's part of account, at most maxKeyUser+1 bytes.
func accountUser(user string) string {
	if len(user) <= maxKeyUser {
		return "/" + user
	}
	h := sha256.Sum256([]byte(user))
	return "#" + hex.EncodeToString(h[:])
}

func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

func fromMS(v int64) time.Time {
	if v <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

// ints reads a script's reply of integers.
func ints(v any, n int) ([]int64, error) {
	a, ok := v.([]any)
	if !ok || len(a) < n {
		return nil, fmt.Errorf("redisstate: unexpected script reply %v", v)
	}
	out := make([]int64, len(a))
	for i, x := range a {
		if out[i], ok = x.(int64); !ok {
			return nil, fmt.Errorf("redisstate: unexpected script reply %v", v)
		}
	}
	return out, nil
}

// Admit implements ratelimit.Shared.
func (s *Store) Admit(ctx context.Context, prefix netip.Prefix, checkBan bool, rate float64, burst int) (time.Time, bool, error) {
	var r []int64
	err := s.call(ctx, fBans, "ratelimit.admit", 0, func(ctx context.Context, c redis.UniversalClient) error {
		ban := "0"
		if checkBan {
			ban = "1"
		}
		v, err := admitScript.Run(ctx, c, []string{s.p + "ban:" + prefix.String(), s.p + "cr:" + prefix.String()},
			ban, strconv.FormatFloat(rate, 'g', -1, 64), burst).Result()
		if err == nil {
			r, err = ints(v, 2)
		}
		return err
	})
	if err != nil {
		return time.Time{}, false, err
	}
	return fromMS(r[0]), r[1] == 1, nil
}

// BeginLogin implements ratelimit.Shared.
func (s *Store) BeginLogin(ctx context.Context, prefix netip.Prefix, tenant, user string, rules ratelimit.BanRules) (ratelimit.LoginCheck, error) {
	var r []int64
	a, acc := prefix.String(), account(tenant, user)
	err := s.call(ctx, fBans, "ratelimit.begin_login", 0, func(ctx context.Context, c redis.UniversalClient) error {
		v, err := beginLoginScript.Run(ctx, c,
			[]string{s.p + "ban:" + a, s.p + "fa:" + a, s.p + "ia:" + a, s.p + "fu:" + acc, s.p + "iu:" + acc},
			rules.Failures, ms(rules.Window), ms(InFlightTTL)).Result()
		if err == nil {
			r, err = ints(v, 2)
		}
		return err
	})
	if err != nil {
		return ratelimit.LoginCheck{}, err
	}
	return ratelimit.LoginCheck{BannedUntil: fromMS(r[0]), Refused: int(r[1])}, nil
}

// EndLogin implements ratelimit.Shared.
func (s *Store) EndLogin(ctx context.Context, prefix netip.Prefix, tenant, user string) error {
	a, acc := prefix.String(), account(tenant, user)
	return s.call(ctx, fBans, "ratelimit.end_login", 0, func(ctx context.Context, c redis.UniversalClient) error {
		return endLoginScript.Run(ctx, c, []string{s.p + "ia:" + a, s.p + "iu:" + acc}).Err()
	})
}

// LoginFailed implements ratelimit.Shared.
func (s *Store) LoginFailed(ctx context.Context, prefix netip.Prefix, tenant, user string, ban bool, rules ratelimit.BanRules) (ratelimit.Ban, error) {
	var r []int64
	a, acc := prefix.String(), account(tenant, user)
	maxAccounts := rules.MaxAccounts
	if maxAccounts <= 0 {
		maxAccounts = DefaultMaxAccounts
	}
	err := s.call(ctx, fBans, "ratelimit.login_failed", 0, func(ctx context.Context, c redis.UniversalClient) error {
		b := "0"
		if ban {
			b = "1"
		}
		v, err := loginFailedScript.Run(ctx, c,
			[]string{s.p + "fa:" + a, s.p + "ia:" + a, s.p + "fu:" + acc, s.p + "iu:" + acc, s.p + "ban:" + a, s.p + "bans",
				s.p + "fx:" + tenant, s.p + "bmem"},
			rules.Failures, ms(rules.Window), b, ms(rules.BanTime), ms(rules.MaxBanTime), ms(rules.BanMemory),
			max(rules.MaxBans, 1), a, s.p+"ban:", accountUser(user), maxAccounts, s.p+"fu:"+accountTenant(tenant)).Result()
		if err == nil {
			r, err = ints(v, 2)
		}
		return err
	})
	if err != nil {
		return ratelimit.Ban{}, err
	}
	return ratelimit.Ban{Prefix: prefix, Until: fromMS(r[0]), Offences: int(r[1])}, nil
}

// Banned implements ratelimit.Shared.
func (s *Store) Banned(ctx context.Context, prefix netip.Prefix) (time.Time, error) {
	var u int64
	err := s.call(ctx, fBans, "ratelimit.banned", 0, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		u, err = bannedScript.Run(ctx, c, []string{s.p + "ban:" + prefix.String()}).Int64()
		return err
	})
	return fromMS(u), err
}

// Bans implements ratelimit.Shared: the index's bans in force (at most
// Config.MaxBans, the index's cap), sorted as Limiter.Bans sorts them.
func (s *Store) Bans(ctx context.Context, limit int) ([]ratelimit.Ban, int, error) {
	var bans []ratelimit.Ban
	err := s.call(ctx, fBans, "ratelimit.bans", AdminDeadline, func(ctx context.Context, c redis.UniversalClient) error {
		v, err := bansScript.Run(ctx, c, []string{s.p + "bans"}, s.p+"ban:", "0").Slice()
		if err != nil {
			return err
		}
		for i := 0; i+2 < len(v); i += 3 {
			m, _ := v[i].(string)
			u, _ := v[i+1].(int64)
			o, _ := v[i+2].(int64)
			p, err := netip.ParsePrefix(m)
			if err != nil {
				continue // not ours
			}
			bans = append(bans, ratelimit.Ban{Prefix: p, Until: fromMS(u), Offences: int(o)})
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	slices.SortFunc(bans, func(a, b ratelimit.Ban) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	total := len(bans)
	if limit > 0 && len(bans) > limit {
		bans = slices.Clip(bans[:limit])
	}
	return bans, total, nil
}

// CountBans returns the number of bans in force in the cluster.
func (s *Store) CountBans(ctx context.Context) (int, error) {
	var n int64
	err := s.call(ctx, fBans, "ratelimit.count_bans", 0, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		n, err = bansScript.Run(ctx, c, []string{s.p + "bans"}, s.p+"ban:", "1").Int64()
		return err
	})
	return int(n), err
}

// Lift implements ratelimit.Shared. A prefix within one ban prefix lifts
// that one directly; a wider one reads the index (at most Config.MaxBans
// members) for the bans it overlaps.
func (s *Store) Lift(ctx context.Context, p netip.Prefix, v4Bits, v6Bits int) (int, error) {
	var n int64
	err := s.call(ctx, fBans, "ratelimit.lift", AdminDeadline, func(ctx context.Context, c redis.UniversalClient) error {
		bits := v6Bits
		if p.Addr().Is4() {
			bits = v4Bits
		}
		var members []any
		if p.Bits() >= bits {
			k, err := p.Addr().Prefix(bits)
			if err != nil {
				return err
			}
			members = []any{k.String()}
		} else {
			all, err := membersScript.Run(ctx, c, []string{s.p + "bans"}).StringSlice()
			if err != nil {
				return err
			}
			for _, m := range all {
				if b, err := netip.ParsePrefix(m); err == nil && b.Overlaps(p) {
					members = append(members, m)
				}
			}
		}
		if len(members) == 0 {
			return nil
		}
		var err error
		n, err = liftScript.Run(ctx, c, []string{s.p + "bans", s.p + "bmem"}, append([]any{s.p + "ban:"}, members...)...).Int64()
		return err
	})
	return int(n), err
}

// HoldSessions implements ratelimit.Shared.
func (s *Store) HoldSessions(ctx context.Context, tenant, user string, userMax, tenantMax int) (*ratelimit.SessionHold, int, error) {
	h := &ratelimit.SessionHold{Tenant: tenant, User: user, ID: s.instance + ":" + strconv.FormatUint(s.seq.Add(1), 10)}
	var which []int // the full code of each key
	args := []any{h.ID, ms(s.lease)}
	if userMax > 0 {
		h.Keys = append(h.Keys, s.p+"su:"+account(tenant, user))
		which = append(which, 1)
		args = append(args, userMax)
	}
	if tenant != "" && tenantMax > 0 {
		h.Keys = append(h.Keys, s.p+"st:"+tenant)
		which = append(which, 2)
		args = append(args, tenantMax)
	}
	if len(h.Keys) == 0 {
		return nil, 0, nil
	}
	var full int64
	err := s.call(ctx, fSessions, "ratelimit.hold_sessions", 0, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		full, err = holdScript.Run(ctx, c, h.Keys, args...).Int64()
		return err
	})
	switch {
	case err != nil:
		return nil, 0, err
	case full != 0:
		return nil, which[full-1], nil
	}
	// Renewed from now on (a heartbeat that just missed it finds the
	// lease the script set, a whole Lease long).
	s.mu.Lock()
	s.holds[h.ID] = h
	s.mu.Unlock()
	return h, 0, nil
}

// ReleaseSessions implements ratelimit.Shared.
func (s *Store) ReleaseSessions(ctx context.Context, h *ratelimit.SessionHold) error {
	if h == nil {
		return nil
	}
	s.mu.Lock()
	delete(s.holds, h.ID)
	s.mu.Unlock()
	return s.call(ctx, fSessions, "ratelimit.release_sessions", 0, func(ctx context.Context, c redis.UniversalClient) error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range h.Keys {
				p.ZRem(ctx, k, h.ID)
			}
			return nil
		})
		return err
	})
}

// TakeCommand implements ratelimit.Shared.
func (s *Store) TakeCommand(ctx context.Context, tenant string, rate float64, burst int, maxWait time.Duration) (time.Duration, bool, error) {
	var w int64
	err := s.call(ctx, fRates, "ratelimit.command_rate", 0, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		w, err = commandScript.Run(ctx, c, []string{s.p + "cmd:" + tenant},
			strconv.FormatFloat(rate, 'g', -1, 64), burst, maxWait.Milliseconds()).Int64()
		return err
	})
	if err != nil {
		return 0, false, err
	}
	if w < 0 {
		return 0, false, nil
	}
	return time.Duration(w) * time.Millisecond, true, nil
}

// heartbeat renews the leases of this instance's live holds every
// Lease/3, so that they outlive it by at most Lease.
func (s *Store) heartbeat() {
	defer close(s.done)
	t := time.NewTicker(s.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Renew(context.Background())
		}
	}
}

// Renew renews the leases of this instance's live session holds now, in
// batches of renewBatch per round trip, each batch under the smaller of
// Lease/3 and AdminDeadline (the heartbeat holds no client). It returns
// the first error.
func (s *Store) Renew(ctx context.Context) error {
	s.mu.Lock()
	holds := make([]*ratelimit.SessionHold, 0, len(s.holds))
	for _, h := range s.holds {
		holds = append(holds, h)
	}
	s.mu.Unlock()
	var first error
	d := min(s.lease/3, AdminDeadline)
	lease := ms(s.lease)
	for batch := range slices.Chunk(holds, renewBatch) {
		err := s.call(ctx, fSessions, "ratelimit.renew_sessions", d, func(ctx context.Context, c redis.UniversalClient) error {
			// Loaded once per batch, so that EVALSHA works in the
			// pipeline after Redis restarted empty.
			if err := renewScript.Load(ctx, c).Err(); err != nil {
				return err
			}
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, h := range batch {
					renewScript.EvalSha(ctx, p, h.Keys, h.ID, lease)
				}
				return nil
			})
			return err
		})
		if first == nil {
			first = err
		}
	}
	// A hold released while its batch was renewed may have been put back
	// by the renewal: take it out again rather than wait for its lease.
	var gone []*ratelimit.SessionHold
	s.mu.Lock()
	for _, h := range holds {
		if _, ok := s.holds[h.ID]; !ok {
			gone = append(gone, h)
		}
	}
	s.mu.Unlock()
	for _, h := range gone {
		if err := s.ReleaseSessions(ctx, h); first == nil {
			first = err
		}
	}
	return first
}
