package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/ftpgate/ftpgate/policy/abi"
)

// Module is a compiled module that passed validation. It belongs to the
// Runtime that compiled it.
type Module struct {
	// Hash is the hex SHA-256 of the module's bytes: its version.
	Hash string
	// Size is the module's length in bytes.
	Size int
	// ABI is the ABI version the module declares.
	ABI int
	// Subscriptions lists the verbs the module wants, upper case; nil
	// means every verb.
	Subscriptions []string
	// Imports lists the module's imports as "module.name".
	Imports []string
	// Exports lists the module's exported functions.
	Exports []string
	// HasInit reports whether the module exports ftpp_init.
	HasInit bool

	compiled wazero.CompiledModule
	wr       wazero.Runtime  // the module's own (see Runtime.newWazero)
	subs     map[string]bool // nil: every verb
}

// Subscribed reports whether the module wants to see verb.
func (m *Module) Subscribed(verb string) bool {
	return m.subs == nil || m.subs[verb]
}

// ShortHash is the first 16 hex digits of Hash, for logs.
func (m *Module) ShortHash() string { return m.Hash[:16] }

// Close releases the compiled code of a module that was never installed,
// and its wazero runtime. Installed modules are closed by the Runtime when
// they are replaced.
func (m *Module) Close(ctx context.Context) error {
	err := m.compiled.Close(ctx)
	if cerr := m.wr.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// ValidationError is why a module was refused. Its message is meant for
// the module's author.
type ValidationError struct{ Reason string }

func (e *ValidationError) Error() string { return "policy module rejected: " + e.Reason }

// BusyError refuses a compile because the tenant already has one waiting
// or running.
type BusyError struct {
	Tenant string
	// RetryAfter is when the running compile will have ended at the latest.
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	return "policy: a compilation for tenant " + e.Tenant + " is already in progress"
}

// OverloadError refuses a compile because CompileQueue compiles already
// wait for a worker.
type OverloadError struct {
	// RetryAfter is a hint of when a worker may be free.
	RetryAfter time.Duration
}

func (e *OverloadError) Error() string {
	return "policy: too many compilations waiting; try again later"
}

// acquire takes a compile worker for tenant, waiting in the queue if none
// is free; release gives it back.
func (r *Runtime) acquire(ctx context.Context, tenant string, noQueueLimit bool) (release func(), err error) {
	retry := r.cfg.CompileTimeout + r.cfg.InitTimeout
	r.schedMu.Lock()
	if tenant != "" {
		if r.busy[tenant] {
			r.schedMu.Unlock()
			return nil, &BusyError{Tenant: tenant, RetryAfter: retry}
		}
		r.busy[tenant] = true
	}
	done := func() {
		if tenant != "" {
			r.schedMu.Lock()
			delete(r.busy, tenant)
			r.schedMu.Unlock()
		}
	}
	release = func() { <-r.compiles; done() }
	select {
	case r.compiles <- struct{}{}:
		r.schedMu.Unlock()
		return release, nil
	default:
	}
	if r.waiting >= r.cfg.CompileQueue && !noQueueLimit {
		if tenant != "" {
			delete(r.busy, tenant)
		}
		r.schedMu.Unlock()
		return nil, &OverloadError{RetryAfter: retry}
	}
	r.waiting++
	r.schedMu.Unlock()
	if r.testQueued != nil {
		r.testQueued(tenant)
	}
	select {
	case r.compiles <- struct{}{}:
	case <-ctx.Done():
		err = ctx.Err()
	case <-r.stop:
		err = errClosed
	}
	r.schedMu.Lock()
	r.waiting--
	r.schedMu.Unlock()
	if err != nil {
		done()
		return nil, err
	}
	return release, nil
}

func invalid(format string, args ...any) error {
	return &ValidationError{Reason: fmt.Sprintf(format, args...)}
}

var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// The WASI functions a guest may import: what the Go, TinyGo and Rust
// runtimes need. Instances get no preopened directories, no sockets, a
// fake clock and a fixed random seed, so these reach nothing outside the
// sandbox; sockets are left out all the same.
func allowedImport(module, name string) bool {
	switch module {
	case "wasi_snapshot_preview1":
		return !strings.HasPrefix(name, "sock_")
	case abi.HostModule:
		return name == abi.HostLog
	}
	return false
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// exportSignatures are the ABI's exports and their types.
var exportSignatures = map[string][2][]api.ValueType{
	abi.ExportMarker:        {nil, nil},
	abi.ExportAlloc:         {{i32}, {i32}},
	abi.ExportCheck:         {{i32, i32}, {i64}},
	abi.ExportInit:          {{i32, i32}, {i32}},
	abi.ExportSubscriptions: {nil, {i64}},
	abi.ExportInitialize:    {nil, nil},
}

// Compile validates wasm as an ABI v1 policy and compiles it: size, magic,
// compilation (on at most CompileWorkers at a time, in a bounded child
// process with ChildCompile), exports and their types, imports, then a
// probe instance that runs _initialize, reads the subscriptions and calls
// ftpp_init with config. Any failure is a *ValidationError with a precise
// reason, except a ctx that ends first, a full queue (*OverloadError) and
// a child that could not be started.
func (r *Runtime) Compile(ctx context.Context, wasm, config []byte) (*Module, error) {
	return r.CompileTenant(ctx, "", wasm, config)
}

// CompileTenant is Compile on behalf of tenant: while it runs, another
// compile for the same tenant fails at once with *BusyError, so that a
// tenant holds at most one compile worker. "" is no tenant: no such
// exclusion.
func (r *Runtime) CompileTenant(ctx context.Context, tenant string, wasm, config []byte) (*Module, error) {
	return r.compile(ctx, tenant, wasm, config, false)
}

// compile is CompileTenant; a restore (Store.Restore) neither counts as
// the tenant's compile, so that an upload during the restore goes ahead
// (and wins), nor is refused by the full queue, since its own workers
// bound it.
func (r *Runtime) compile(ctx context.Context, tenant string, wasm, config []byte, restore bool) (*Module, error) {
	if len(wasm) > r.cfg.MaxModuleSize {
		return nil, invalid("module is %d bytes; the limit is %d", len(wasm), r.cfg.MaxModuleSize)
	}
	if !bytes.HasPrefix(wasm, wasmMagic) {
		return nil, invalid("not a WebAssembly module (no \\0asm magic)")
	}
	if err := checkSections(wasm, r.cfg.Code); err != nil {
		return nil, err
	}
	key := tenant
	if restore {
		key = ""
	}
	release, err := r.acquire(ctx, key, restore)
	if err != nil {
		return nil, err
	}
	defer release()
	cache, dir := r.cache, ""
	if r.cfg.ChildCompile {
		// The child leaves the code in a directory private to this
		// compile, and this process loads it from there (a cache hit:
		// no code generated here) through a cache of the module's own.
		// wazero reads the entry whole when it loads it, so the
		// directory goes as soon as the compile below returns: nothing
		// stays on disk per upload (see RATIONALE.md, "The compilation
		// cache lives as long as one compile").
		dir, err = os.MkdirTemp(r.cacheDir, compileDirPrefix)
		if err != nil {
			return nil, fmt.Errorf("policy: compile directory: %w", err)
		}
		defer r.removeCompileDir(dir)
		if err := r.compileInChild(ctx, tenant, dir, wasm); err != nil {
			return nil, err
		}
		if r.testChildDone != nil {
			r.testChildDone(dir)
		}
		// Without the child's entry the compile below would generate
		// the code here, outside every bound.
		if !hasEntry(dir) {
			return nil, errors.New("policy: compile child left no compiled code")
		}
		newRuntimeMu.Lock() // see newRuntimeMu
		cache, err = wazero.NewCompilationCacheWithDir(dir)
		newRuntimeMu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("policy: compile directory: %w", err)
		}
		// The module's runtime alone uses this cache and its engine;
		// both go with it (closing a wazero cache only drops the
		// engine's maps).
	}
	wr, err := r.newWazero(ctx, cache)
	if err != nil {
		return nil, err
	}
	cm, err := wr.CompileModule(experimental.WithCompilationWorkers(ctx, 1), wasm)
	if dir != "" {
		if r.testLoaded != nil {
			r.testLoaded(dir)
		}
		r.removeCompileDir(dir)
	}
	if err != nil {
		_ = wr.Close(ctx)
		select {
		case <-r.stop:
			// A closed runtime refuses every module: not this one's fault.
			return nil, errClosed
		default:
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, invalid("compile: %v", err)
	}
	sum := sha256.Sum256(wasm)
	m := &Module{Hash: hex.EncodeToString(sum[:]), Size: len(wasm), compiled: cm, wr: wr}
	if err := r.checkShape(m); err != nil {
		_ = m.Close(ctx)
		return nil, err
	}
	if err := r.probe(ctx, m, config); err != nil {
		_ = m.Close(ctx)
		return nil, err
	}
	return m, nil
}

// hasEntry reports whether a compile directory holds a complete entry: a
// regular file, not a *.tmp one wazero has not renamed into place.
func hasEntry(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, ".tmp") {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// checkShape checks the module's exports and imports against the ABI.
func (r *Runtime) checkShape(m *Module) error {
	cm := m.compiled
	exports := cm.ExportedFunctions()
	for name := range exports {
		m.Exports = append(m.Exports, name)
	}
	slices.Sort(m.Exports)
	if _, ok := exports[abi.ExportMarker]; !ok {
		for _, name := range m.Exports {
			if v, ok := strings.CutPrefix(name, "ftpp_abi_v"); ok {
				return invalid("module declares ABI v%s (export %s); this host supports v1 only", v, name)
			}
		}
		return invalid("missing export %s: not an ftpgate policy, or built without the kit", abi.ExportMarker)
	}
	m.ABI = abi.Version
	for _, name := range []string{abi.ExportCheck, abi.ExportAlloc} {
		if _, ok := exports[name]; !ok {
			return invalid("missing required export %s", name)
		}
	}
	for name, sig := range exportSignatures {
		def, ok := exports[name]
		if !ok {
			continue
		}
		if !slices.Equal(def.ParamTypes(), sig[0]) || !slices.Equal(def.ResultTypes(), sig[1]) {
			return invalid("export %s has type %s; ABI v1 wants %s", name, sigString(def.ParamTypes(), def.ResultTypes()), sigString(sig[0], sig[1]))
		}
	}
	if _, ok := exports["_start"]; ok {
		if _, ok := exports[abi.ExportInitialize]; !ok {
			return invalid("module is a WASI command (exports _start); build a reactor instead (Go: -buildmode=c-shared)")
		}
	}
	_, m.HasInit = exports[abi.ExportInit]
	if _, ok := cm.ExportedMemories()[abi.ExportMemory]; !ok {
		return invalid("missing export \"memory\"")
	}
	if len(cm.ImportedMemories()) > 0 {
		return invalid("module imports a memory; it must define and export its own")
	}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		m.Imports = append(m.Imports, mod+"."+name)
		if !allowedImport(mod, name) {
			return invalid("import %s.%s is not allowed (allowed: wasi_snapshot_preview1 except sock_*, ftpp_host.log)", mod, name)
		}
	}
	return nil
}

func sigString(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(params) + ") -> (" + names(results) + ")"
}

// probe instantiates the module once: _initialize, subscriptions and
// ftpp_init must all succeed, within InitTimeout.
func (r *Runtime) probe(ctx context.Context, m *Module, config []byte) error {
	in, err := r.instantiate(ctx, m, "", config)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return err
		}
		return invalid("instantiate: %v", err)
	}
	defer in.close(ctx)
	fn := in.mod.ExportedFunction(abi.ExportSubscriptions)
	if fn == nil {
		return nil
	}
	ictx, cancel := context.WithTimeout(ctx, r.cfg.InitTimeout)
	defer cancel()
	res, err := fn.Call(ictx)
	if err != nil {
		return invalid("%s trapped: %v", abi.ExportSubscriptions, err)
	}
	ptr, n := uint32(res[0]>>32), uint32(res[0])
	if n > 4096 {
		return invalid("%s returned %d bytes; at most 4096", abi.ExportSubscriptions, n)
	}
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		return invalid("%s returned a buffer outside memory", abi.ExportSubscriptions)
	}
	subs, err := ParseSubscriptions(string(b))
	if err != nil {
		return invalid("%s: %v", abi.ExportSubscriptions, err)
	}
	m.Subscriptions = subs
	if subs != nil {
		m.subs = make(map[string]bool, len(subs))
		for _, v := range subs {
			m.subs[v] = true
		}
	}
	return nil
}

// ParseSubscriptions parses a comma-separated verb list: "*" means every
// verb (nil), otherwise each verb is 3 or 4 ASCII letters (folded to
// upper case). Spaces around verbs are ignored; an empty list is an error.
func ParseSubscriptions(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return nil, nil
	}
	if s == "" {
		return nil, errors.New(`empty subscription list; return "*" for every verb`)
	}
	var verbs []string
	for v := range strings.SplitSeq(s, ",") {
		v = strings.ToUpper(strings.TrimSpace(v))
		if len(v) < 3 || len(v) > 4 || strings.IndexFunc(v, func(c rune) bool { return c < 'A' || c > 'Z' }) >= 0 {
			return nil, fmt.Errorf("%q is not a verb (3 or 4 letters)", v)
		}
		if !slices.Contains(verbs, v) {
			verbs = append(verbs, v)
		}
	}
	return verbs, nil
}
