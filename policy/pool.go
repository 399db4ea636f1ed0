package policy

import (
	"context"
	"errors"
	"sync"
	"time"
)

// pool holds the instances of one module version for one tenant: at most
// PoolSize live, idle ones reused last-in first-out so that the warmest
// serve and the coldest age out.
type pool struct {
	r      *Runtime
	mod    *Module
	tenant string
	config []byte
	slots  chan struct{} // a token per live or being-made instance

	mu        sync.Mutex
	idle      []*instance
	live      int
	retired   bool
	modClosed bool
}

func newPool(r *Runtime, m *Module, tenant string, config []byte) *pool {
	return &pool{r: r, mod: m, tenant: tenant, config: config, slots: make(chan struct{}, r.cfg.PoolSize)}
}

// errPoolBusy means no instance came free in time; the host is overloaded,
// which is not the module's fault.
var errPoolBusy = errors.New("policy: every instance busy")

// errRetired means the pool's module was replaced while a call waited.
var errRetired = errors.New("policy: module replaced")

// get returns an idle instance or makes one, waiting at most InitTimeout
// for a free slot.
func (p *pool) get(ctx context.Context) (*instance, error) {
	select {
	case p.slots <- struct{}{}:
	default:
		t := time.NewTimer(p.r.cfg.InitTimeout)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
		case <-t.C:
			return nil, errPoolBusy
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p.mu.Lock()
	if p.retired {
		p.mu.Unlock()
		<-p.slots
		return nil, errRetired
	}
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return in, nil
	}
	p.live++
	p.mu.Unlock()
	in, err := p.r.instantiate(ctx, p.mod, p.tenant, p.config)
	if err != nil {
		p.mu.Lock()
		p.live--
		p.releaseLocked(ctx)
		p.mu.Unlock()
		<-p.slots
		return nil, err
	}
	return in, nil
}

// borrow takes a slot, as get does, for an instance the caller makes and
// closes itself (a dry run's fresh one), so that it counts against
// PoolSize and keeps the compiled module open until giveBack.
func (p *pool) borrow(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
	default:
		t := time.NewTimer(p.r.cfg.InitTimeout)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
		case <-t.C:
			return errPoolBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired {
		<-p.slots
		return errRetired
	}
	p.live++
	return nil
}

// giveBack returns the slot of a borrow once its instance is closed.
func (p *pool) giveBack(ctx context.Context) {
	p.mu.Lock()
	p.live--
	p.releaseLocked(ctx)
	p.mu.Unlock()
	<-p.slots
}

// put returns an instance after a call that ended at now (Config.Now's
// clock, for idle eviction); keep false closes it instead, as after any
// error, too many calls or too much memory.
func (p *pool) put(ctx context.Context, in *instance, keep bool, now time.Time) {
	if keep && (in.calls >= p.r.cfg.MaxCallsPerInstance ||
		uint64(in.pages())*100 > uint64(p.r.cfg.MemoryLimitPages)*uint64(p.r.cfg.RecyclePercent)) {
		keep = false
	}
	p.mu.Lock()
	if keep && !p.retired {
		in.lastUsed = now
		p.idle = append(p.idle, in)
		p.mu.Unlock()
		<-p.slots
		return
	}
	p.live--
	p.releaseLocked(ctx)
	p.mu.Unlock()
	in.close(ctx)
	<-p.slots
}

// evictIdle closes instances idle since before; it returns how many.
func (p *pool) evictIdle(ctx context.Context, before time.Time) int {
	p.mu.Lock()
	var old []*instance
	keep := p.idle[:0]
	for _, in := range p.idle {
		if in.lastUsed.Before(before) {
			old = append(old, in)
		} else {
			keep = append(keep, in)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.live -= len(old)
	p.mu.Unlock()
	for _, in := range old {
		in.close(ctx)
	}
	return len(old)
}

// retire closes the idle instances now and the busy ones when they come
// back, then the compiled module.
func (p *pool) retire(ctx context.Context) {
	p.mu.Lock()
	p.retired = true
	old := p.idle
	p.idle = nil
	p.live -= len(old)
	p.releaseLocked(ctx)
	p.mu.Unlock()
	for _, in := range old {
		in.close(ctx)
	}
}

// releaseLocked closes the compiled module once the pool is retired and
// empty.
func (p *pool) releaseLocked(ctx context.Context) {
	if p.retired && p.live == 0 && !p.modClosed {
		p.modClosed = true
		_ = p.mod.Close(ctx)
	}
}

// size returns the live and idle instance counts.
func (p *pool) size() (live, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live, len(p.idle)
}
