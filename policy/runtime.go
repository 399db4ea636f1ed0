package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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
	cacheDir string        // the on-disk compilation cache, with ChildCompile the parent of each compile's private directory; "" when in memory
	tempDir  string        // a private cacheDir that Close removes

	schedMu sync.Mutex
	busy    map[string]bool // tenants with a compile waiting or running
	dryRuns map[string]bool // tenants with a dry run running
	waiting int             // compiles waiting for a worker

	// testChildStarted, when set, runs once a compile child has started
	// and before its deadline starts; tests block in it to hold a compile
	// in flight.
	testChildStarted func(tenant string)
	// testChildDone, when set, runs after a child compiled a module into
	// the private directory dir and before this process loads the code
	// from it; testLoaded runs once it has, before dir is removed.
	testChildDone func(dir string)
	testLoaded    func(dir string)
	// testQueued, when set, runs when a compile starts waiting for a
	// worker.
	testQueued func(tenant string)

	mu      sync.RWMutex
	tenants map[string]*tenantState

	// storeMu orders a change of a shared store with its install here:
	// the admin API holds it across Save and Install (or Delete and
	// Remove), a follower (RedisStore.Follow) while it compares a record
	// with what runs and while it installs, so that the notification of
	// an upload through this instance finds it installed (no second
	// compile) and a follower never installs a module its store has
	// replaced meanwhile.
	storeMu sync.Mutex

	// unknown is set while a shared store that fails closed could not be
	// read (RedisStore with FailOpen false): no tenant's policy is known,
	// so every tenant without an installed or pending policy has each
	// command refused with 451 (see Evaluate) until the store is read.
	unknown atomic.Bool

	stop    chan struct{}
	stopped chan struct{}
	closeMu sync.Once

	// realClock is set when no clock was configured (cfg.Now is
	// time.Now), so that a call's end, read for its latency, also serves
	// as the instance's last use: one clock read fewer per call.
	realClock bool
}

// newRuntimeMu makes runtimes one at a time: wazero v1.12.0 caches its
// own version string in an unsynchronised package variable the first time
// an engine or a file cache is made (internal/version), so concurrent
// first calls race.
var newRuntimeMu sync.Mutex

// NewRuntime starts a Runtime: the wazero runtime with its limits, the WASI
// and ftpp_host host modules, and the janitor that closes idle instances.
func NewRuntime(ctx context.Context, cfg Config) (*Runtime, error) {
	realClock := cfg.Now == nil
	cfg = cfg.withDefaults()
	if cfg.ChildCompile && !childSupported {
		return nil, errors.New("policy: ChildCompile needs Linux")
	}
	newRuntimeMu.Lock()
	defer newRuntimeMu.Unlock()
	cacheDir, tempDir := cfg.CacheDir, ""
	if cfg.ChildCompile {
		if cacheDir == "" {
			// Each compile's private directory goes in here.
			var err error
			if tempDir, err = os.MkdirTemp("", "ftpgate-policy-cache-"); err != nil {
				return nil, fmt.Errorf("policy: compilation cache: %w", err)
			}
			cacheDir = tempDir
		} else if err := clearCompileDirs(cacheDir, cfg.Logger); err != nil {
			return nil, fmt.Errorf("policy: compilation cache: %w", err)
		}
	}
	var cache wazero.CompilationCache
	if cacheDir != "" && !cfg.ChildCompile {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cacheDir); err != nil {
			return nil, fmt.Errorf("policy: compilation cache: %w", err)
		}
	} else {
		// With ChildCompile each module compiles through a cache of its
		// own (see compile); this one serves the check below.
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
	r.realClock = realClock
	// One wazero runtime now, to fail early if the host modules cannot
	// be made; each module gets its own (see newWazeroLocked).
	wr, err := r.newWazeroLocked(ctx, cache)
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
// ftpp_host module instantiated, with the compilation cache cache: the
// Runtime's shared one, or with ChildCompile the module's own.
//
// Every module gets its own because a wazero runtime never forgets what a
// module leaves in it: its store keeps every function type any module
// compiled in it ever declared (a map of the types' names), even a module
// that was then refused or closed. In one runtime shared by every tenant,
// each upload of new types, refused or not, would grow this process for
// good. Closing the module's runtime with the module frees them. Without
// ChildCompile the engine, and so the compiled code, is shared through
// the Runtime's cache.
func (r *Runtime) newWazero(ctx context.Context, cache wazero.CompilationCache) (wazero.Runtime, error) {
	select {
	case <-r.stop:
		return nil, errClosed // the shared cache may be closed already
	default:
	}
	newRuntimeMu.Lock()
	defer newRuntimeMu.Unlock()
	return r.newWazeroLocked(ctx, cache)
}

func (r *Runtime) newWazeroLocked(ctx context.Context, cache wazero.CompilationCache) (wazero.Runtime, error) {
	wr := wazero.NewRuntimeWithConfig(ctx, wazeroConfig(r.cfg.MemoryLimitPages, cache))
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

// compileDirPrefix starts the name of each compile's private directory
// (see Runtime.compile).
const compileDirPrefix = "compile-"

// clearCompileDirs removes from dir, a ChildCompile Runtime's cache
// directory, what a previous process left there: private compile
// directories (with a child's *.tmp file, when the process was killed
// mid-compile) and wazero's cache directories ("wazero-<version>-..."),
// which such a Runtime no longer reads. It creates dir if need be.
func clearCompileDirs(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, compileDirPrefix) || strings.HasPrefix(name, "wazero-") {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				log.Warn("policy: cannot remove a leftover compilation cache", "path", filepath.Join(dir, name), "err", err)
			}
		}
	}
	return nil
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
