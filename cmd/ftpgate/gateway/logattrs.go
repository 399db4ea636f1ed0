package gateway

import (
	"log/slog"
	"strings"
)

// durationMillis is the JSON log's ReplaceAttr: a duration is written as
// milliseconds under its key with "_ms" added ("grace": 30s becomes
// "grace_ms": 30000), a number any log tool reads without knowing Go's
// duration syntax or slog's nanoseconds; sub-millisecond parts are kept
// as a fraction.
func durationMillis(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	d := a.Value.Duration()
	key := a.Key
	if !strings.HasSuffix(key, "_ms") {
		key += "_ms"
	}
	return slog.Float64(key, float64(d.Microseconds())/1000)
}
