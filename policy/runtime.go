package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	cache    wazero.CompilationCache
	compiles chan struct{} // one token per compile worker
	cacheDir string        // the on-disk compilation cache; "" when in memory
	tempDir  string        // a private cacheDir that Close removes

	schedMu sync.Mutex
	busy    map[string]bool // tenants with a compile waiting or running
	dryRuns map[string]bool // tenants with a dry run running
	waiting int             // compiles waiting for a worker

	// testChildStarted, when set, runs once a compile child has started
	// and before its deadline starts; tests block in it to hold a compile
	// in flight.
	testChildStarted func(tenant string)
	// testChildDone, when set, runs after a child compiled a module and
	// before this process loads the code from the cache.
	testChildDone func()
	// testQueued, when set, runs when a compile starts waiting for a
	// worker.
	testQueued func(tenant string)

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
	if cfg.ChildCompile && !childSupported {
		return nil, errors.New("policy: ChildCompile needs Linux")
	}
	newRuntimeMu.Lock()
	defer newRuntimeMu.Unlock()
	cacheDir, tempDir := cfg.CacheDir, ""
	if cacheDir == "" && cfg.ChildCompile {
		// The child hands its code over through the cache on disk.
		var err error
		if tempDir, err = os.MkdirTemp("", "ftpgate-policy-cache-"); err != nil {
			return nil, fmt.Errorf("policy: compilation cache: %w", err)
		}
		cacheDir = tempDir
	}
	var cache wazero.CompilationCache
	if cacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cacheDir); err != nil {
			if tempDir != "" {
				_ = os.RemoveAll(tempDir)
			}
			return nil, fmt.Errorf("policy: compilation cache: %w", err)
		}
	} else {
		cache = wazero.NewCompilationCache()
	}
	r := &Runtime{
		cfg:      cfg,
		cache:    cache,
		compiles: make(chan struct{}, cfg.CompileWorkers),
		cacheDir: cacheDir,
		tempDir:  tempDir,
		busy:     map[string]bool{},
		dryRuns:  map[string]bool{},
		tenants:  map[string]*tenantState{},
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	// One wazero runtime now, to fail early if the host modules cannot
	// be made; each module gets its own (see newWazeroLocked).
	wr, err := r.newWazeroLocked(ctx)
	if err != nil {
		_ = cache.Close(ctx)
		r.removeTemp()
		return nil, err
	}
	_ = wr.Close(ctx)
	go r.janitor()
	return r, nil
}

// newWazero makes the wazero runtime of one module: WASI and the
// ftpp_host module instantiated, the compilation cache shared.
//
// Every module gets its own because a wazero runtime never forgets what a
// module leaves in it: its store keeps every function type any module
// compiled in it ever declared (a map of the types' names), even a module
// that was then refused or closed. In one runtime shared by every tenant,
// each upload of new types, refused or not, would grow this process for
// good. Closing the module's runtime with the module frees them. The
// engine, and so the compiled code, is shared through the cache.
func (r *Runtime) newWazero(ctx context.Context) (wazero.Runtime, error) {
	select {
	case <-r.stop:
		return nil, errClosed // the shared cache may be closed already
	default:
	}
	newRuntimeMu.Lock()
	defer newRuntimeMu.Unlock()
	return r.newWazeroLocked(ctx)
}

func (r *Runtime) newWazeroLocked(ctx context.Context) (wazero.Runtime, error) {
	wr := wazero.NewRuntimeWithConfig(ctx, wazeroConfig(r.cfg.MemoryLimitPages, r.cache))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wr); err != nil {
		_ = wr.Close(ctx)
		return nil, fmt.Errorf("policy: WASI: %w", err)
	}
	_, err := wr.NewHostModuleBuilder(abi.HostModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(r.hostLog), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		Export(abi.HostLog).Instantiate(ctx)
	if err != nil {
		_ = wr.Close(ctx)
		return nil, fmt.Errorf("policy: host module: %w", err)
	}
	return wr, nil
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
				// Calls still in flight fail, as they did when one
				// wazero runtime served every module.
				_ = in.mod.wr.Close(ctx)
			}
		}
		r.mu.Unlock()
		err = r.cache.Close(ctx)
		r.removeTemp()
	})
	return err
}

// removeTemp removes the private cache directory, if any.
func (r *Runtime) removeTemp() {
	if r.tempDir != "" {
		_ = os.RemoveAll(r.tempDir)
	}
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
