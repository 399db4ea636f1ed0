package policy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/ftpgate/ftpgate/policy/abi"
)

// Runtime compiles policy modules and evaluates commands against the
// module each tenant has installed. It is safe for concurrent use; Close
// releases it.
type Runtime struct {
	cfg      Config
	wr       wazero.Runtime
	cache    wazero.CompilationCache
	compiles chan struct{} // one token per compile worker

	mu      sync.RWMutex
	tenants map[string]*tenantState

	stop    chan struct{}
	stopped chan struct{}
	closeMu sync.Once
}

// newRuntimeMu makes runtimes one at a time: wazero v1.12.0 caches its
// own version string in an unsynchronised package variable the first time
// an engine or a file cache is made (internal/version), so concurrent
// first calls race.
var newRuntimeMu sync.Mutex

// NewRuntime starts a Runtime: the wazero runtime with its limits, the WASI
// and ftpp_host host modules, and the janitor that closes idle instances.
func NewRuntime(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg = cfg.withDefaults()
	newRuntimeMu.Lock()
	defer newRuntimeMu.Unlock()
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("policy: compilation cache: %w", err)
		}
	} else {
		cache = wazero.NewCompilationCache()
	}
	// Untrusted code: every call must be stoppable by its deadline, which
	// is what WithCloseOnContextDone buys (at the cost of a check on every
	// loop back-edge).
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(cfg.MemoryLimitPages).
		WithCompilationCache(cache).
		WithDebugInfoEnabled(true)
	r := &Runtime{
		cfg:      cfg,
		wr:       wazero.NewRuntimeWithConfig(ctx, rc),
		cache:    cache,
		compiles: make(chan struct{}, cfg.CompileWorkers),
		tenants:  map[string]*tenantState{},
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.wr); err != nil {
		_ = r.wr.Close(ctx)
		return nil, fmt.Errorf("policy: WASI: %w", err)
	}
	_, err := r.wr.NewHostModuleBuilder(abi.HostModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(r.hostLog), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		Export(abi.HostLog).Instantiate(ctx)
	if err != nil {
		_ = r.wr.Close(ctx)
		return nil, fmt.Errorf("policy: host module: %w", err)
	}
	go r.janitor()
	return r, nil
}

// Config returns the runtime's configuration with defaults filled in.
func (r *Runtime) Config() Config { return r.cfg }

// Close stops the janitor, closes every instance and the wazero runtime.
func (r *Runtime) Close(ctx context.Context) error {
	var err error
	r.closeMu.Do(func() {
		close(r.stop)
		<-r.stopped
		r.mu.Lock()
		for _, ts := range r.tenants {
			if in := ts.cur.Swap(nil); in != nil {
				in.pool.retire(ctx)
			}
		}
		r.mu.Unlock()
		err = r.wr.Close(ctx)
		if cerr := r.cache.Close(ctx); err == nil {
			err = cerr
		}
	})
	return err
}

// janitor closes idle instances. It ticks at a quarter of the idle
// timeout, so an instance lives at most 1.25 × IdleTimeout unused.
func (r *Runtime) janitor() {
	defer close(r.stopped)
	t := time.NewTicker(max(r.cfg.IdleTimeout/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.EvictIdle(context.Background())
		}
	}
}

// EvictIdle closes every instance that has been idle for IdleTimeout. The
// janitor calls it; it is exported for operators and tests.
func (r *Runtime) EvictIdle(ctx context.Context) int {
	before := r.cfg.Now().Add(-r.cfg.IdleTimeout)
	n := 0
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, ts := range r.tenants {
		if in := ts.cur.Load(); in != nil {
			n += in.pool.evictIdle(ctx, before)
		}
	}
	return n
}
