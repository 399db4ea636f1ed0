package policy

import (
	"log/slog"
	"runtime"
	"time"
)

// Config tunes a Runtime. The zero value is usable: every zero field takes
// the default given in its comment.
type Config struct {
	// CacheDir keeps wazero's compilation cache on disk, so a restart does
	// not generate code again. "" keeps the cache in memory. With
	// ChildCompile nothing is kept: CacheDir (or, when "", a temporary
	// directory Close removes) only holds each compile's private
	// directory while the compile runs, and NewRuntime removes what a
	// previous process left in it (its "compile-*" and "wazero-*"
	// entries); no two running Runtimes may share it.
	CacheDir string
	// MemoryLimitPages caps each instance's linear memory, in 64 KiB pages
	// (default 256 = 16 MiB; Go guests need at least 128).
	MemoryLimitPages uint32
	// CallTimeout is the deadline of one ftpp_check call (default 50 ms).
	CallTimeout time.Duration
	// InitTimeout bounds instantiation, _initialize and ftpp_init
	// (default 1 s; stretched in race builds, as the compile bounds are),
	// and how long a call waits for a free instance.
	InitTimeout time.Duration
	// MaxModuleSize is the largest module accepted, in bytes (default 16 MiB).
	MaxModuleSize int
	// CompileWorkers bounds concurrent compilations (default 2). A
	// tenant holds at most one of them (a second compile of the same
	// tenant is refused with *BusyError while the first runs), so one
	// tenant can keep at most one worker from the others.
	CompileWorkers int
	// CompileQueue bounds the compilations waiting for a worker (default
	// 8); one more is refused with *OverloadError.
	CompileQueue int
	// ChildCompile compiles each module in a child process (a re-exec of
	// this executable, see CompileChildMain) under CompileMemory,
	// CompileCPU and CompileTimeout, then loads the code the child left in
	// a directory private to that compile, removed once loaded. Off (the library default), compilation runs
	// in this process and nothing bounds its time or memory: turn it on
	// wherever modules come from people you do not trust (the gateway
	// does). Needs Linux.
	ChildCompile bool
	// CompileMemory bounds the address space a child compile may add to
	// what the Go runtime reserved when the child started, in bytes
	// (default 512 MiB); its resident memory can grow by at most as much.
	CompileMemory int64
	// CompileCPU bounds the CPU time of a child compile (default 10 s,
	// rounded up to whole seconds; a 2.6 MB Go-built policy takes about
	// 1.5 s).
	CompileCPU time.Duration
	// CompileTimeout is the wall-clock deadline of a child compile, after
	// which it is killed (default 15 s). A tenant's compile holds a
	// worker for at most this long plus InitTimeout.
	CompileTimeout time.Duration
	// PoolSize bounds the live instances per tenant and module version,
	// hence the cores one tenant's policy can keep busy (default
	// GOMAXPROCS/2, at least 1 and at most 4, so that a slow policy cannot
	// take every core from the other tenants).
	PoolSize int
	// IdleTimeout closes instances unused for this long (default 5 min).
	IdleTimeout time.Duration
	// MaxCallsPerInstance recycles an instance after this many calls
	// (default 100000).
	MaxCallsPerInstance uint64
	// RecyclePercent recycles an instance whose memory has grown past this
	// share of MemoryLimitPages (default 75), because wasm memory never
	// shrinks.
	RecyclePercent int
	// BreakerErrors errors within BreakerWindow open the circuit breaker
	// for BreakerCooldown (defaults 5, 60 s, 30 s).
	BreakerErrors   int
	BreakerWindow   time.Duration
	BreakerCooldown time.Duration
	// Logger receives policy errors and guests' log lines (default
	// slog.Default()).
	Logger *slog.Logger
	// Now is the clock given to policies and used by the breaker (default
	// time.Now); tests set it.
	Now func() time.Time
	// Code caps what a module may cost to compile, checked before
	// compilation (zero fields: the defaults given on CodeLimits).
	Code CodeLimits
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.MemoryLimitPages == 0 {
		c.MemoryLimitPages = 256
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 50 * time.Millisecond
	}
	if c.InitTimeout <= 0 {
		c.InitTimeout = time.Second * raceTimeFactor
	}
	if c.MaxModuleSize <= 0 {
		c.MaxModuleSize = 16 << 20
	}
	if c.CompileWorkers <= 0 {
		c.CompileWorkers = 2
	}
	if c.CompileQueue <= 0 {
		c.CompileQueue = 8
	}
	if c.CompileMemory <= 0 {
		c.CompileMemory = 512 << 20
	}
	if c.CompileCPU <= 0 {
		c.CompileCPU = 10 * time.Second * raceTimeFactor
	}
	if c.CompileTimeout <= 0 {
		c.CompileTimeout = 15 * time.Second * raceTimeFactor
	}
	if c.PoolSize <= 0 {
		c.PoolSize = max(1, min(4, runtime.GOMAXPROCS(0)/2))
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.MaxCallsPerInstance == 0 {
		c.MaxCallsPerInstance = 100000
	}
	if c.RecyclePercent <= 0 || c.RecyclePercent > 100 {
		c.RecyclePercent = 75
	}
	if c.BreakerErrors <= 0 {
		c.BreakerErrors = 5
	}
	if c.BreakerWindow <= 0 {
		c.BreakerWindow = time.Minute
	}
	if c.BreakerCooldown <= 0 {
		c.BreakerCooldown = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Code = c.Code.WithDefaults()
	return c
}

// uploadAnswerTime bounds how long an upload may take to answer: a wait
// behind every queued compile, its own compile, and a minute for the
// probe and the store. 0 (no bound of its own) without a child compile,
// whose time nothing bounds.
func (c Config) uploadAnswerTime() time.Duration {
	if !c.ChildCompile {
		return 0
	}
	rounds := 1 + (c.CompileQueue+c.CompileWorkers-1)/c.CompileWorkers
	return time.Duration(rounds)*c.CompileTimeout + time.Minute
}
