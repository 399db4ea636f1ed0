package policy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// OpenFile reads the module in file and compiles it, with config for its
// ftpp_init, on a runtime of its own that logs nothing and gives each
// call timeout: the offline runtime of `ftpgate policy check` and
// `inspect`. It reads at most the runtime's MaxModuleSize (a larger file
// is refused unread). The caller closes the runtime; on error there is
// none.
func OpenFile(ctx context.Context, file string, config []byte, timeout time.Duration) (*Runtime, *Module, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	rt, err := NewRuntime(ctx, Config{CallTimeout: timeout, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, err
	}
	limit := int64(rt.cfg.MaxModuleSize)
	wasm, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(wasm)) > limit {
		err = fmt.Errorf("larger than %d bytes", limit)
	}
	var m *Module
	if err == nil {
		m, err = rt.Compile(ctx, wasm, config)
	}
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, err
	}
	return rt, m, nil
}
