package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// go-redis v9.23.0 writes its own trouble (a pool that cannot dial, a
// connection dropped with unread data, ...) through one process-wide
// logger, set with redis.SetLogger; redis.Options has no logger of its
// own. Its default writes straight to stderr, past the gateway's slog
// handler (format, level, destination). So the first Runtime installs
// redisLogs in its place, once per process, and every Runtime registers
// its logger there until Close. RATIONALE.md ("go-redis's one logger")
// says why this one process-wide setting is acceptable.

// logKey is the context key under which a Runtime's hook puts its logger
// on every call, so that a line go-redis logs during the call (a failed
// dial is logged with the caller's context) goes to that Runtime's
// handler even when several Runtimes share the process (tests).
type logKey struct{}

// redisLogs forwards go-redis's lines to slog. It is the process's only
// go-redis logger: redis.SetLogger is process-wide, so the forwarder is
// too (installLogs sets it once).
var redisLogs = &redisLogger{}

// installLogs makes redisLogs go-redis's logger, once per process: a
// second gateway in the process (tests start several) finds it in place.
var installLogs sync.Once

// redisLogger is a go-redis logger (Printf) that writes to slog.
type redisLogger struct {
	mu sync.Mutex
	// live are the Runtimes not yet closed, in the order they started:
	// bounded by the Runtimes a process holds at once (one per gateway).
	live []liveLog
}

// liveLog is a Runtime's Redis address and logger.
type liveLog struct {
	addr string
	log  *slog.Logger
}

// register adds a Runtime's logger, for lines about addr, until
// unregister.
func (f *redisLogger) register(addr string, l *slog.Logger) {
	installLogs.Do(func() { redis.SetLogger(f) })
	f.mu.Lock()
	f.live = append(f.live, liveLog{addr: addr, log: l})
	f.mu.Unlock()
}

// unregister removes l; removing it twice is harmless.
func (f *redisLogger) unregister(l *slog.Logger) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.live {
		if x.log == l {
			f.live = append(f.live[:i], f.live[i+1:]...)
			return
		}
	}
}

// pick returns the logger for msg: the last Runtime whose Redis address
// msg names (a pool dials in a goroutine of its own, with no caller's
// context, but its error names the address), else the Runtime started
// last, else nil.
func (f *redisLogger) pick(msg string) *slog.Logger {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.live) - 1; i >= 0; i-- {
		if strings.Contains(msg, f.live[i].addr) {
			return f.live[i].log
		}
	}
	if n := len(f.live); n > 0 {
		return f.live[n-1].log
	}
	return nil
}

// Printf implements go-redis's internal.Logging: the line goes to the
// logger the call's context carries (the Runtime whose command met the
// trouble), else to pick's, else to slog.Default(). Pool trouble is a
// warning: the call that met it also returns an error, which the
// feature counts and logs with its fail mode.
func (f *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	l, _ := ctx.Value(logKey{}).(*slog.Logger)
	if l == nil {
		l = f.pick(msg)
	}
	if l == nil {
		l = slog.Default()
	}
	l.LogAttrs(ctx, slog.LevelWarn, "cluster: go-redis", slog.String("detail", msg))
}

// logHook puts a Runtime's logger in the context of each of its calls,
// for redisLogger.
type logHook struct{ log *slog.Logger }

func (h logHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h logHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return next(context.WithValue(ctx, logKey{}, h.log), cmd)
	}
}

func (h logHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return next(context.WithValue(ctx, logKey{}, h.log), cmds)
	}
}
