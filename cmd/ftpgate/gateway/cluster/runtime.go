package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// logEvery bounds the log lines of a feature's Redis errors: at most one
// per feature per logEvery, with the number left out since the last.
const logEvery = 10 * time.Second

// Runtime is a process's connection to the cluster: one go-redis client
// (a pool of at most poolSize connections) shared by every feature, each
// feature's options and fail mode, and the counters of Stats. Make it
// with New; Close it last.
type Runtime struct {
	cfg  Config
	log  *slog.Logger
	id   string
	base *redis.Client
	// clients are per-feature clones of base: the same pool, the
	// feature's deadline as socket timeout, and a hook that counts the
	// feature's calls.
	clients [numFeatures]*redis.Client
	stats   [numFeatures]featureStats
	up      atomic.Bool
}

// featureStats are one feature's counters.
type featureStats struct {
	ok, errs, timeouts, fallbacks atomic.Uint64
	lastLog                       atomic.Int64 // unix nanoseconds of the last error line
	unlogged                      atomic.Uint64
}

// poolSize bounds the connections to Redis of one process; a call that
// finds every connection busy waits at most its deadline.
const poolSize = 32

// New makes the Runtime of cfg (which must be On and have passed
// Validate). It connects lazily: a Redis that is down at start is not an
// error, the features apply their fail modes until it answers. The
// password (password_file or $FTPGATE_REDIS_PASSWORD) is never logged.
func New(cfg Config, log *slog.Logger) (*Runtime, error) {
	if !cfg.On() {
		return nil, errors.New("cluster: no [cluster].redis")
	}
	if log == nil {
		log = slog.Default()
	}
	pw, err := cfg.password()
	if err != nil {
		return nil, fmt.Errorf("cluster.password_file: %w", err)
	}
	id := cfg.InstanceID
	if id == "" {
		id = defaultInstanceID()
	}
	opts := &redis.Options{
		Addr:        cfg.Redis,
		Username:    cfg.Username,
		Password:    pw,
		DB:          0,
		MaxRetries:  -1, // a retry would outlive the deadline
		DialTimeout: max(time.Duration(cfg.Deadline), time.Second),
		// The base client carries the session fan-out (pub/sub, replies
		// of up to maxReply bytes); the features' clones have the deadline.
		ReadTimeout:           max(time.Duration(cfg.Deadline), time.Second),
		WriteTimeout:          max(time.Duration(cfg.Deadline), time.Second),
		ContextTimeoutEnabled: true,
		PoolSize:              poolSize,
		PoolTimeout:           time.Duration(cfg.Deadline),
		DisableIdentity:       true,
		Protocol:              2,
	}
	if cfg.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if host, _, err := net.SplitHostPort(cfg.Redis); err == nil {
			tc.ServerName = host
		}
		if cfg.TLSCA != "" {
			pem, err := os.ReadFile(cfg.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("cluster.tls_ca: cannot read %q", cfg.TLSCA)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("cluster.tls_ca: %q holds no PEM certificate", cfg.TLSCA)
			}
			tc.RootCAs = pool
		}
		opts.TLSConfig = tc
	}
	r := &Runtime{cfg: cfg, log: log.With("component", "cluster"), id: id, base: redis.NewClient(opts)}
	// go-redis's own lines (a pool that cannot dial) go to this
	// Runtime's handler, not to stderr (redislog.go); the clones below
	// inherit the hook.
	r.base.AddHook(logHook{log: r.log})
	redisLogs.register(cfg.Redis, r.log)
	for f := range numFeatures {
		d := time.Duration(cfg.Deadline)
		if f == Instances { // off the clients' paths: heartbeats may take longer
			d = max(d, time.Second)
		}
		c := r.base.WithTimeout(d)
		c.AddHook(countHook{r: r, f: f})
		r.clients[f] = c
	}
	return r, nil
}

// defaultInstanceID is the host name's first label, cleaned to
// [A-Za-z0-9_-], and 8 random hex digits: a new id at each start, so that
// a restarted instance never answers for its previous life's sessions.
func defaultInstanceID() string {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	var b strings.Builder
	for i := 0; i < len(host) && b.Len() < 32; i++ {
		c := host[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		b.WriteString("ftpgate")
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return b.String() + "-" + hex.EncodeToString(rnd[:])
}

// ID is this instance's id in the cluster.
func (r *Runtime) ID() string { return r.id }

// Config is the [cluster] the Runtime was made from.
func (r *Runtime) Config() Config { return r.cfg }

// Client is the feature's client: the shared pool, the feature's
// deadline as socket timeout, its calls counted in Stats.
func (r *Runtime) Client(f Feature) *redis.Client { return r.clients[f] }

// Options returns what a plugin's Redis store of feature f is built
// from: f's client, the prefix, the deadline, f's fail mode, and an
// OnError that counts and logs.
func (r *Runtime) Options(f Feature) FeatureOptions {
	return FeatureOptions{
		Client:   r.clients[f],
		Prefix:   r.cfg.Prefix,
		Deadline: time.Duration(r.cfg.Deadline),
		FailOpen: r.failOpen(f),
		OnError:  func(op string, err error) { r.Fallback(f, op, err) },
	}
}

// failOpen is f's fail mode; the registry always fails open.
func (r *Runtime) failOpen(f Feature) bool {
	switch f {
	case Bans:
		return r.cfg.Fail.Bans != FailClosed
	case Sessions:
		return r.cfg.Fail.Sessions != FailClosed
	case Rates:
		return r.cfg.Fail.Rates != FailClosed
	case Quota:
		return r.cfg.Fail.Quota != FailClosed
	case Policies:
		return r.cfg.Fail.Policies != FailClosed
	}
	return true
}

// Fallback records that feature f could not use Redis for op and applied
// its fail mode: it counts it and logs it, at most one line per feature
// per logEvery (with the count of those not logged). err's text is
// go-redis's, which never holds the password.
func (r *Runtime) Fallback(f Feature, op string, err error) {
	if f < 0 || f >= numFeatures {
		return
	}
	s := &r.stats[f]
	s.fallbacks.Add(1)
	now := time.Now().UnixNano()
	last := s.lastLog.Load()
	if now-last < int64(logEvery) || !s.lastLog.CompareAndSwap(last, now) {
		s.unlogged.Add(1)
		return
	}
	mode := FailOpen
	if !r.failOpen(f) {
		mode = FailClosed
	}
	r.log.Warn("cluster: Redis call failed; the feature applies its fail mode",
		"feature", f.String(), "op", op, "fail", mode, "err", err, "not_logged_since_last", s.unlogged.Swap(0))
}

// Deadline is each call's deadline.
func (r *Runtime) Deadline() time.Duration { return time.Duration(r.cfg.Deadline) }

// Close closes the client's connections; the per-feature clients share
// them and are unusable after. go-redis's lines no longer come to this
// Runtime's logger.
func (r *Runtime) Close() error {
	err := r.base.Close()
	redisLogs.unregister(r.log)
	return err
}

// Stats are the cluster's counters, for the telemetry package.
type Stats struct {
	// Up reports whether the last Redis call (a heartbeat at least every
	// lease/3) succeeded.
	Up bool
	// Features are each feature's counters, in Features() order.
	Features []FeatureStats
}

// FeatureStats are one feature's counters since start.
type FeatureStats struct {
	// Feature is the feature's name.
	Feature string
	// OK, Errors and Timeouts count its Redis calls by result (a missed
	// deadline is a timeout; redis.Nil is OK).
	OK, Errors, Timeouts uint64
	// Fallbacks counts the times it applied its fail mode.
	Fallbacks uint64
}

// Stats returns the counters now.
func (r *Runtime) Stats() Stats {
	st := Stats{Up: r.up.Load(), Features: make([]FeatureStats, numFeatures)}
	for f := range numFeatures {
		s := &r.stats[f]
		st.Features[f] = FeatureStats{Feature: f.String(), OK: s.ok.Load(), Errors: s.errs.Load(), Timeouts: s.timeouts.Load(), Fallbacks: s.fallbacks.Load()}
	}
	return st
}

// record counts one call's result.
func (r *Runtime) record(f Feature, err error) {
	s := &r.stats[f]
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		s.ok.Add(1)
		r.up.Store(true)
	case isTimeout(err):
		s.timeouts.Add(1)
		r.up.Store(false)
	default:
		s.errs.Add(1)
		var rerr redis.Error
		if !errors.As(err, &rerr) { // a reply error means Redis answered
			r.up.Store(false)
		} else {
			r.up.Store(true)
		}
	}
}

// isTimeout reports a missed deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// countHook counts a feature's commands and pipelines by result.
type countHook struct {
	r *Runtime
	f Feature
}

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.r.record(h.f, err)
		return err
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.r.record(h.f, err)
		return err
	}
}
