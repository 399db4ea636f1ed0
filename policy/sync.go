package policy

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// DefaultReconcile is how often Follow compares every tenant's installed
// policy with the shared store when no notification came.
const DefaultReconcile = 10 * time.Second

// maxDirty bounds the tenants waiting to be synced after notifications;
// past it the notifications are dropped and a full reconcile is due.
const maxDirty = 4096

// Follow keeps r's policies equal to the store's, until ctx ends: it
// subscribes to the store's channel and syncs each tenant a change is
// published for (a policy uploaded through any instance rules here as
// soon as it has compiled), and every `every` (DefaultReconcile when 0)
// it reads the generation and, when it moved or the last pass failed,
// compares every tenant's record with what r runs, which repairs lost
// notifications and a Redis restart. The work is bounded: one goroutine
// syncs one tenant at a time (compiles in restore mode, on the runtime's
// workers and within its bounds), notifications wait in a set of at most
// maxDirty tenants, and a pass reads one record per stored tenant.
//
// A module is compiled only when the record names another module than
// the one r runs for the tenant (the instance that accepted an upload has
// it compiled already: its notification costs a read). A module another
// instance stored is validated and compiled here with this runtime's
// bounds all the same; one that fails is quarantined here and marked so
// in the store, so that the other instances do not compile it again (an
// instance that runs it already, having accepted it, keeps it).
//
// When the store's generation is gone (Redis restarted without its data),
// no policy is removed: the instances keep ruling with what they run and
// the error is logged; policies must then be uploaded again.
//
// restoring, when not nil, is the Restore of this store into r: the
// follower syncs nothing before it is done (notifications meanwhile
// wait), so that no module is compiled twice at start.
func (s *RedisStore) Follow(ctx context.Context, r *Runtime, every time.Duration, restoring *Restoring) {
	if every <= 0 {
		every = DefaultReconcile
	}
	f := &follower{s: s, r: r, wake: make(chan struct{}, 1), dirty: map[string]bool{}, full: true}
	var wg sync.WaitGroup
	wg.Go(func() { f.subscribe(ctx) })
	wg.Go(func() {
		if restoring != nil {
			select {
			case <-restoring.Done():
			case <-ctx.Done():
				return
			}
			for _, t := range restoring.tenants {
				s.setKnown(t, true)
			}
		}
		f.run(ctx, every)
	})
	wg.Wait()
}

// follower is Follow's state.
type follower struct {
	s    *RedisStore
	r    *Runtime
	wake chan struct{}

	mu    sync.Mutex
	dirty map[string]bool
	full  bool // a full pass is due

	lastGen int64 // the generation of the last complete pass
}

// mark queues tenant ("" for a full pass) and wakes the worker.
func (f *follower) mark(tenant string) {
	f.mu.Lock()
	switch {
	case tenant == "":
		f.full = true
	case len(f.dirty) >= maxDirty:
		f.full = true
	default:
		f.dirty[tenant] = true
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// retryLater asks for a full pass at the next tick, without waking the
// worker: a failure is retried once a period, never in a loop.
func (f *follower) retryLater() {
	f.mu.Lock()
	f.full = true
	f.mu.Unlock()
}

// subscribe listens on the store's channel; go-redis resubscribes after a
// lost connection, and each (re)subscription asks for a full pass, since
// notifications may have been lost meanwhile.
func (f *follower) subscribe(ctx context.Context) {
	sub := f.s.opts.Client.Subscribe(ctx, f.s.channel())
	defer sub.Close()
	ch := sub.ChannelWithSubscriptions()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			switch m := msg.(type) {
			case *redis.Message:
				if conf.ValidTenantID(m.Payload) == nil {
					f.mark(m.Payload)
				}
			case *redis.Subscription:
				f.mark("")
			}
		}
	}
}

// run is the worker: one tenant at a time, a full pass every `every` or
// when asked.
func (f *follower) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		f.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-t.C:
			f.mu.Lock()
			f.full = true
			f.mu.Unlock()
		}
	}
}

// drain syncs the queued tenants, then makes a full pass if one is due.
func (f *follower) drain(ctx context.Context) {
	for ctx.Err() == nil {
		f.mu.Lock()
		var tenant string
		for t := range f.dirty {
			tenant = t
			break
		}
		if tenant != "" {
			delete(f.dirty, tenant)
		}
		full := f.full && tenant == ""
		if full {
			f.full = false
		}
		f.mu.Unlock()
		switch {
		case tenant != "":
			if err := f.syncTenant(ctx, tenant); err != nil {
				f.retryLater()
			}
		case full:
			f.pass(ctx)
			return
		default:
			return
		}
	}
}

// pass compares every stored tenant's record with what r runs, when the
// generation moved since the last complete pass.
func (f *follower) pass(ctx context.Context) {
	gen, err := f.s.Generation()
	if err != nil {
		return // logged; r keeps its policies
	}
	if gen == 0 && f.lastGen > 0 {
		f.s.log.Error("policy: the shared policy store has lost its data (Redis restarted without persistence?); the policies in force stay; upload them again",
			"last_generation", f.lastGen)
		return
	}
	if gen == f.lastGen && gen > 0 && !f.r.unknown.Load() {
		return
	}
	tenants, err := f.s.Tenants()
	if err != nil {
		return
	}
	stored := make(map[string]bool, len(tenants))
	ok := true
	for _, t := range tenants {
		stored[t] = true
		if err := f.syncTenant(ctx, t); err != nil {
			ok = false
		}
	}
	// Tenants r rules for that the store no longer has.
	for _, t := range f.r.ruledTenants() {
		if !stored[t] {
			if err := f.syncTenant(ctx, t); err != nil {
				ok = false
			}
		}
	}
	if f.r.unknown.Swap(false) {
		f.s.log.Info("policy: the shared policy store is read again; commands are judged by the stored policies")
	}
	if ok {
		f.lastGen = gen
	} else {
		f.retryLater()
	}
}

// syncTenant makes r run tenant's stored policy: nothing when it runs that
// module with those settings already, removal when the store has none,
// else a compile (or the store's quarantine mark) and an install.
func (f *follower) syncTenant(ctx context.Context, tenant string) error {
	r, s := f.r, f.s
	r.storeMu.Lock()
	rec, err := s.record(tenant)
	if errors.Is(err, fs.ErrNotExist) {
		defer r.storeMu.Unlock()
		if !s.isKnown(tenant) {
			return nil
		}
		if gen, gerr := s.Generation(); gerr != nil || gen == 0 {
			return gerr // a store without data removes nothing
		}
		s.setKnown(tenant, false)
		if r.Remove(tenant) {
			r.cfg.Logger.Info("policy: removed (shared store)", "tenant", tenant)
		}
		return nil
	}
	var settings Settings
	current := false
	if err == nil {
		s.setKnown(tenant, true)
		var oe OnError
		if oe, err = ParseOnError(rec.OnError); err == nil {
			settings = Settings{OnError: oe, Config: rec.Config}
			m, cur, ok := r.Installed(tenant)
			current = ok && m.Hash == rec.SHA256 && cur.OnError == oe && bytes.Equal(cur.Config, rec.Config)
		} else {
			current, err = true, nil // a record no instance can use: nothing to do
		}
	}
	r.storeMu.Unlock()
	if err != nil || current {
		return err
	}
	if st, ok := r.Pending(tenant); ok && st.SHA256 == rec.SHA256 && st.State == "quarantined" {
		return nil
	}
	if q, ok := s.quarantined(tenant); ok && q.SHA256 == rec.SHA256 {
		if _, _, installed := r.Installed(tenant); !installed {
			r.quarantine(tenant, r.markPending(tenant, rec.SHA256, rec.Subscriptions), q.Reason)
		}
		return nil
	}
	// Until the new module is in, a tenant without one has the verbs it
	// subscribes to refused; one with a module keeps ruling with it.
	p := r.markPending(tenant, rec.SHA256, rec.Subscriptions)
	wasm, rec2, err := s.Load(tenant)
	if err == nil && rec2.SHA256 != rec.SHA256 {
		f.mark(tenant) // changed meanwhile: again
		return nil
	}
	var m *Module
	if err == nil {
		m, err = r.compile(ctx, tenant, wasm, rec.Config, true)
	}
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return err // transient: Redis, the runtime closing, ctx
		}
		r.cfg.Logger.Error("policy: stored policy quarantined", "tenant", tenant, "sha256", rec.SHA256, "reason", ve.Reason)
		s.markQuarantined(tenant, rec.SHA256, ve.Reason)
		if _, _, installed := r.Installed(tenant); !installed {
			r.quarantine(tenant, p, ve.Reason)
		}
		return nil
	}
	r.storeMu.Lock()
	defer r.storeMu.Unlock()
	if now, err := s.record(tenant); err != nil || now.SHA256 != rec.SHA256 {
		_ = m.Close(ctx)
		f.mark(tenant) // changed meanwhile: again
		return err
	}
	r.Install(tenant, m, settings)
	r.cfg.Logger.Info("policy: installed (shared store)", "tenant", tenant, "module", m.ShortHash())
	return nil
}
