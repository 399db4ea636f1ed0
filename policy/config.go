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
	// not generate code again. "" keeps the cache in memory.
	CacheDir string
	// MemoryLimitPages caps each instance's linear memory, in 64 KiB pages
	// (default 256 = 16 MiB; Go guests need at least 128).
	MemoryLimitPages uint32
	// CallTimeout is the deadline of one ftpp_check call (default 50 ms).
	CallTimeout time.Duration
	// InitTimeout bounds instantiation, _initialize and ftpp_init
	// (default 1 s), and how long a call waits for a free instance.
	InitTimeout time.Duration
	// MaxModuleSize is the largest module accepted, in bytes (default 16 MiB).
	MaxModuleSize int
	// CompileWorkers bounds concurrent compilations (default 2).
	CompileWorkers int
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
		c.InitTimeout = time.Second
	}
	if c.MaxModuleSize <= 0 {
		c.MaxModuleSize = 16 << 20
	}
	if c.CompileWorkers <= 0 {
		c.CompileWorkers = 2
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
