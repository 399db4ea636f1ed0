package policy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/ftpgate/ftpgate/policy/abi"
)

// instance is one live module instance with what a call needs cached.
type instance struct {
	mod          api.Module
	mem          api.Memory
	alloc, check api.Function
	stack        [2]uint64
	bufPtr       uint32
	bufCap       uint32
	calls        uint64
	lastUsed     time.Time
	out          *cappedBuffer // the guest's stdout and stderr
	tenant       string
	hash         string

	// The per-call deadline: a reusable timer and a context that wazero's
	// CloseOnContextDone watches. They replace context.WithTimeout, which
	// costs an allocation and a timer per call; a fired deadline kills the
	// instance anyway, so the context is single use.
	timer *time.Timer
	cctx  *callCtx
	logs  int // log lines of the current call

	resp []byte // the last response, copied out of guest memory
}

// instanceKey finds the instance behind a host function call.
type instanceKey struct{}

// callCtx is the context of calls into one instance.
type callCtx struct {
	inst  *instance
	done  chan struct{}
	fired atomic.Bool
}

func (c *callCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *callCtx) Done() <-chan struct{}       { return c.done }
func (c *callCtx) Err() error {
	if c.fired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}
func (c *callCtx) Value(k any) any {
	if k == (instanceKey{}) {
		return c.inst
	}
	return nil
}

// cappedBuffer keeps the first max bytes written to it.
type cappedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *cappedBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := string(b.buf)
	b.buf = b.buf[:0]
	return s
}

// errInitFailed is a non-zero return of ftpp_init.
var errInitFailed = errors.New("ftpp_init returned non-zero")

// instantiate makes a new instance: _initialize, then ftpp_init with
// config, all within InitTimeout.
func (r *Runtime) instantiate(ctx context.Context, m *Module, tenant string, config []byte) (*instance, error) {
	ictx, cancel := context.WithTimeout(ctx, r.cfg.InitTimeout)
	defer cancel()
	out := &cappedBuffer{max: 4096}
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous, so that any number can coexist
		WithStartFunctions(abi.ExportInitialize).
		WithStdout(out).WithStderr(out)
	mod, err := m.wr.InstantiateModule(ictx, m.compiled, mc)
	if err != nil {
		if s := out.take(); s != "" {
			err = fmt.Errorf("%w; guest output: %s", err, s)
		}
		return nil, err
	}
	in := &instance{
		mod:    mod,
		mem:    mod.ExportedMemory(abi.ExportMemory),
		alloc:  mod.ExportedFunction(abi.ExportAlloc),
		check:  mod.ExportedFunction(abi.ExportCheck),
		out:    out,
		tenant: tenant,
		hash:   m.ShortHash(),
	}
	in.cctx = &callCtx{inst: in, done: make(chan struct{})}
	in.timer = time.AfterFunc(time.Hour, func() {
		in.cctx.fired.Store(true)
		close(in.cctx.done)
	})
	in.timer.Stop()
	if init := mod.ExportedFunction(abi.ExportInit); init != nil {
		err := func() error {
			var ptr uint32
			if len(config) > 0 {
				var err error
				if ptr, err = in.buffer(ictx, len(config)); err != nil {
					return err
				}
				if !in.mem.Write(ptr, config) {
					return errors.New("ftpp_alloc returned a buffer outside memory")
				}
			}
			res, err := init.Call(ictx, uint64(ptr), uint64(len(config)))
			if err != nil {
				return err
			}
			if uint32(res[0]) != 0 {
				return fmt.Errorf("%w (%d)", errInitFailed, int32(res[0]))
			}
			return nil
		}()
		if err != nil {
			in.close(ctx)
			return nil, err
		}
	}
	return in, nil
}

// buffer returns a guest buffer of at least n bytes, calling ftpp_alloc
// only when the cached one is too small.
func (in *instance) buffer(ctx context.Context, n int) (uint32, error) {
	if uint32(n) <= in.bufCap && in.bufPtr != 0 {
		return in.bufPtr, nil
	}
	in.stack[0] = uint64(uint32(n))
	if err := in.alloc.CallWithStack(ctx, in.stack[:]); err != nil {
		return 0, err
	}
	ptr := uint32(in.stack[0])
	if ptr == 0 {
		return 0, fmt.Errorf("ftpp_alloc(%d) returned 0", n)
	}
	in.bufPtr, in.bufCap = ptr, uint32(n)
	return ptr, nil
}

// callError is a failed call, with what the logs need.
type callError struct {
	timeout bool
	err     error
	output  string // what the guest printed during the call, e.g. a Go panic
}

func (e *callError) Error() string {
	if e.output != "" {
		return e.err.Error() + "; guest output: " + e.output
	}
	return e.err.Error()
}

func (e *callError) Unwrap() error { return e.err }

// call runs ftpp_check on req under the deadline d and returns a copy of
// the response bytes (nil for a plain allow), valid until the next call. Any error leaves the
// instance unusable; the caller must close it.
func (in *instance) call(d time.Duration, req []byte) ([]byte, error) {
	in.calls++
	in.logs = 0
	in.timer.Reset(d)
	resp, err := in.callLocked(req)
	if !in.timer.Stop() {
		// The deadline fired, perhaps just after the call returned; the
		// watcher may have closed the module, so it goes either way.
		if err == nil {
			err = context.DeadlineExceeded
		}
		return nil, &callError{timeout: true, err: fmt.Errorf("deadline of %v exceeded: %w", d, err), output: in.out.take()}
	}
	if err != nil {
		return nil, &callError{err: err, output: in.out.take()}
	}
	return resp, nil
}

func (in *instance) callLocked(req []byte) ([]byte, error) {
	ptr, err := in.buffer(in.cctx, len(req))
	if err != nil {
		return nil, err
	}
	if !in.mem.Write(ptr, req) {
		return nil, errors.New("ftpp_alloc returned a buffer outside memory")
	}
	in.stack[0], in.stack[1] = uint64(ptr), uint64(len(req))
	if err := in.check.CallWithStack(in.cctx, in.stack[:]); err != nil {
		return nil, err
	}
	packed := in.stack[0]
	if packed == 0 {
		return nil, nil
	}
	rptr, rlen := uint32(packed>>32), uint32(packed)
	if rlen > abi.MaxResponseLen {
		return nil, fmt.Errorf("response of %d bytes exceeds the %d-byte limit", rlen, abi.MaxResponseLen)
	}
	b, ok := in.mem.Read(rptr, rlen)
	if !ok {
		return nil, fmt.Errorf("response [%d, +%d) lies outside the guest's %d-byte memory", rptr, rlen, in.mem.Size())
	}
	if rlen == 0 {
		return nil, nil
	}
	// Copied, because guest memory may be replaced when it grows; reused,
	// because the caller is done with it before the next call.
	in.resp = append(in.resp[:0], b...)
	return in.resp, nil
}

// pages returns the instance's memory in 64 KiB pages.
func (in *instance) pages() uint32 { return in.mem.Size() >> 16 }

func (in *instance) close(ctx context.Context) {
	if in.timer != nil {
		in.timer.Stop()
	}
	_ = in.mod.Close(ctx)
}

// hostLog is ftpp_host.log(level, ptr, len): one line into the server's
// log, cut to 1 KiB, cleaned of control characters, at most 16 per call.
func (r *Runtime) hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	in, _ := ctx.Value(instanceKey{}).(*instance)
	if in != nil {
		if in.logs >= 16 {
			return
		}
		in.logs++
	}
	b, ok := mod.Memory().Read(ptr, min(n, 1024))
	if !ok {
		return
	}
	msg := cleanText(string(b), 1024)
	attrs := []any{"msg", msg}
	if in != nil {
		attrs = append(attrs, "tenant", in.tenant, "module", in.hash)
	}
	lvl := []string{"debug", "info", "warn", "error"}[max(0, min(3, int(level)))]
	switch lvl {
	case "debug":
		r.cfg.Logger.Debug("policy: guest log", attrs...)
	case "info":
		r.cfg.Logger.Info("policy: guest log", attrs...)
	case "warn":
		r.cfg.Logger.Warn("policy: guest log", attrs...)
	default:
		r.cfg.Logger.Error("policy: guest log", attrs...)
	}
}
