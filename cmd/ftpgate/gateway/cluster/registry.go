package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxInstances bounds the instances Instances lists (and a cluster-wide
// admin request asks): a larger cluster lists its first MaxInstances ids.
const MaxInstances = 64

// maxInstanceInfo bounds an instance's stored description, in bytes.
const maxInstanceInfo = 4 << 10

// Instance is one live instance as the registry lists it.
type Instance struct {
	// ID is the instance's [cluster].instance_id (or the one made at start).
	ID string `json:"id"`
	// Version is its build's version.
	Version string `json:"version"`
	// Generation is its running configuration's generation: 1 at start,
	// one more at each reload taken.
	Generation int64 `json:"config_generation"`
	// Addresses are its listeners.
	Addresses Addresses `json:"addresses"`
	// Started is when it started (its own clock).
	Started time.Time `json:"started"`
	// Heartbeat is its last heartbeat and Expires when it leaves the
	// list without another, both in Redis's clock.
	Heartbeat time.Time `json:"heartbeat"`
	Expires   time.Time `json:"expires"`
	// LeaseMS is its lease, in milliseconds.
	LeaseMS int64 `json:"lease_ms"`
}

// Addresses are an instance's listeners ("" for none).
type Addresses struct {
	Control     string `json:"control"`
	ImplicitTLS string `json:"implicit_tls,omitempty"`
	Admin       string `json:"admin,omitempty"`
	Telemetry   string `json:"telemetry,omitempty"`
}

// Keys of the registry (after the prefix):
//
//	instances       sorted set: member an instance id, score its lease's
//	                end in Redis's milliseconds. Entries past their end are
//	                removed at every heartbeat and listing, so it holds at
//	                most the instances alive within the last lease.
//	instance:<id>   the instance's Instance as JSON, expiring with its
//	                lease (PX); ids are [A-Za-z0-9_-] (Config.Validate).
const (
	keyInstances = "instances"
	keyInstance  = "instance:"
)

// heartbeatScript renews an instance's lease in Redis's clock and drops
// the expired entries: KEYS = the set and the instance's key, ARGV = id,
// lease (ms), description. It returns Redis's time in ms.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', lease)
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return now
`)

// listScript drops the expired entries and returns the live ones with
// their ends: KEYS = the set, ARGV = the maximum.
var listScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
`)

// Registry keeps this instance in the cluster's list of instances, with
// a heartbeat every lease/3, and lists the others. Make it with
// Runtime.NewRegistry, start it with Start; Stop removes the instance.
type Registry struct {
	rt    *Runtime
	self  func() Instance
	lease time.Duration
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	// started is set by Start, before the loop runs.
	started bool

	mu   sync.Mutex
	last []Instance // the last list read, for when Redis is away
}

// NewRegistry returns the registry of the cluster's instances, in which
// Start keeps this instance, described by self (called at each
// heartbeat: the generation may change). Instances works before Start.
func (r *Runtime) NewRegistry(self func() Instance) *Registry {
	return &Registry{rt: r, self: self, lease: time.Duration(r.cfg.Lease), stop: make(chan struct{}), done: make(chan struct{})}
}

// Start registers this instance and keeps it registered until Stop, with
// a heartbeat every lease/3. Redis being away is no error: the heartbeats
// go on, and the first one that succeeds registers the instance again
// (after a Redis restart too). Call it once.
func (g *Registry) Start() {
	g.started = true
	g.beat()
	go g.loop()
}

func (g *Registry) key(id string) string { return g.rt.cfg.Prefix + keyInstance + id }

func (g *Registry) loop() {
	defer close(g.done)
	t := time.NewTicker(g.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.beat()
		}
	}
}

// callTimeout bounds one registry call: the heartbeat is not on a
// client's path, so it may take longer than [cluster].deadline.
func (g *Registry) callTimeout() time.Duration {
	return min(max(g.rt.Deadline(), time.Second), g.lease/3)
}

// beat renews the lease once.
func (g *Registry) beat() {
	in := g.self()
	in.ID, in.LeaseMS = g.rt.id, g.lease.Milliseconds()
	in.Heartbeat, in.Expires = time.Time{}, time.Time{}
	b, err := json.Marshal(in)
	if err != nil || len(b) > maxInstanceInfo {
		g.rt.log.Error("cluster: instance description too large", "bytes", len(b))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.callTimeout())
	defer cancel()
	c := g.rt.clients[Instances]
	err = heartbeatScript.Run(ctx, c, []string{g.rt.cfg.Prefix + keyInstances, g.key(g.rt.id)}, g.rt.id, g.lease.Milliseconds(), string(b)).Err()
	if err != nil {
		g.rt.Fallback(Instances, "heartbeat", err)
	}
}

// Instances lists the live instances, by id, at most MaxInstances. When
// Redis cannot be read it returns the last list read with the error.
func (g *Registry) Instances(ctx context.Context) ([]Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, g.callTimeout())
	defer cancel()
	c := g.rt.clients[Instances]
	res, err := listScript.Run(ctx, c, []string{g.rt.cfg.Prefix + keyInstances}, MaxInstances).Slice()
	if err != nil {
		return g.cached(), err
	}
	ids, ends := make([]string, 0, len(res)/2), make([]int64, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		id, _ := res[i].(string)
		end, _ := res[i+1].(string)
		ms, ok := parseScore(end)
		if id == "" || !ok || !validName(id, maxInstanceID, "") {
			continue
		}
		ids, ends = append(ids, id), append(ends, ms)
	}
	out := make([]Instance, 0, len(ids))
	if len(ids) > 0 {
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = g.key(id)
		}
		vals, err := c.MGet(ctx, keys...).Result()
		if err != nil {
			return g.cached(), err
		}
		for i, v := range vals {
			s, _ := v.(string)
			var in Instance
			if s == "" || len(s) > maxInstanceInfo || json.Unmarshal([]byte(s), &in) != nil || in.ID != ids[i] {
				continue // expired between the two calls, or not ours
			}
			in.Expires = time.UnixMilli(ends[i]).UTC()
			in.Heartbeat = in.Expires.Add(-time.Duration(in.LeaseMS) * time.Millisecond)
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return compareIDs(a.ID, b.ID) })
	g.mu.Lock()
	g.last = out
	g.mu.Unlock()
	return out, nil
}

func (g *Registry) cached() []Instance {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.last)
}

// Stop ends the heartbeats and removes this instance from the list
// (within ctx; a Redis that is away lets the lease expire instead).
func (g *Registry) Stop(ctx context.Context) {
	g.once.Do(func() {
		if !g.started {
			return
		}
		close(g.stop)
		<-g.done
		ctx, cancel := context.WithTimeout(ctx, g.callTimeout())
		defer cancel()
		c := g.rt.clients[Instances]
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.ZRem(ctx, g.rt.cfg.Prefix+keyInstances, g.rt.id)
			p.Del(ctx, g.key(g.rt.id))
			return nil
		})
		if err != nil {
			g.rt.log.Warn("cluster: leaving the registry; the lease will expire instead", "err", err)
		}
	})
}

// halt stops the heartbeats without leaving: a test's dead instance.
func (g *Registry) halt() {
	g.once.Do(func() {
		if !g.started {
			return
		}
		close(g.stop)
		<-g.done
	})
}

// parseScore reads a sorted-set score of whole milliseconds.
func parseScore(s string) (int64, bool) {
	var f float64
	if err := json.Unmarshal([]byte(s), &f); err != nil || f < 0 || f > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// compareIDs orders instance ids as strings.
func compareIDs(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
