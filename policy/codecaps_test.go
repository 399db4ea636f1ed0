package policy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/internal/wasmcheck"
	"github.com/ftpgate/ftpgate/policy/internal/wasmgen"
)

// TestGeneratedShapesPass: a small instance of every hostile shape is a
// whole ABI v1 policy that Runtime.Compile accepts, so when a large one is
// refused, a cap refused it and not the ABI checks.
func TestGeneratedShapesPass(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, Config{})
	for name, b := range map[string][]byte{
		"ManyLocals":    wasmgen.ManyLocals(20, 100),
		"WideBrTable":   wasmgen.WideBrTable(100),
		"BrTables":      wasmgen.BrTables(5, 1, 50),
		"NestedBlocks":  wasmgen.NestedBlocks(50),
		"NestedIfs":     wasmgen.Nested(wasmgen.If, 50),
		"ManyFunctions": wasmgen.ManyFunctions(100),
		"BigFunction":   wasmgen.BigFunction(2000),
		"BigCode":       wasmgen.BigCode(5000, 1000),
	} {
		m, err := r.Compile(context.Background(), b, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		_ = m.Close(context.Background())
	}
}

// TestCodeCapsRefuse: every hostile shape at ten times its default cap is
// refused by Runtime.Compile with a ValidationError naming the cap, before
// compilation: each of these would take wazero from seconds to hours.
func TestCodeCapsRefuse(t *testing.T) {
	t.Parallel()
	d := wasmcheck.Default()
	r, _ := newTestRuntime(t, Config{})
	cases := []struct {
		name, want string
		wasm       func() []byte
	}{
		{"functions", "functions; the limit is 50000",
			func() []byte { return wasmgen.ManyFunctions(10 * d.Functions) }},
		{"locals per function", "declares 40960 locals; the limit is 4096 per function",
			func() []byte { return wasmgen.ManyLocals(1, uint32(10*d.FunctionLocals)) }},
		{"total locals", "the limit is 1048576 per module",
			func() []byte { return wasmgen.ManyLocals(10*d.TotalLocals/d.FunctionLocals, uint32(d.FunctionLocals)) }},
		{"function bytes", "bytes of code; the limit is 262144 per function",
			func() []byte { return wasmgen.BigFunction(10 * d.FunctionBytes) }},
		{"depth", "nests blocks 1025 deep; the limit is 1024",
			func() []byte { return wasmgen.NestedBlocks(10 * d.Depth) }},
		{"loop depth", "nests blocks 1025 deep; the limit is 1024",
			func() []byte { return wasmgen.Nested(wasmgen.Loop, 10*d.Depth) }},
		{"br_table", "br_table of 40961 targets; the limit is 4096 per br_table",
			func() []byte { return wasmgen.WideBrTable(uint32(10 * d.BrTableTargets)) }},
		{"total br_table targets", "the limit is 524288 per module",
			func() []byte {
				return wasmgen.BrTables(10*d.TotalBrTableTargets/d.BrTableTargets, 1, uint32(d.BrTableTargets-1))
			}},
		// The modules.
		{"issue: 80 KB of 10,000 × 65,535 locals", "declares 65535 locals; the limit is 4096 per function",
			func() []byte { return wasmgen.ManyLocals(10000, 65535) }},
		{"issue: a 3M-target br_table", "the limit is 262144 per function",
			func() []byte { return wasmgen.WideBrTable(3_000_000) }},
		{"issue: 900 KB of nested blocks", "the limit is 262144 per function",
			func() []byte { return wasmgen.NestedBlocks(300_000) }},
	}
	for _, c := range cases {
		wasm := c.wasm()
		start := time.Now()
		_, err := r.Compile(context.Background(), wasm, nil)
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(ve.Reason, c.want) {
			t.Errorf("%s (%d bytes): %v, want a ValidationError containing %q", c.name, len(wasm), err, c.want)
		}
		// An upper bound only, generous for a loaded machine: the check
		// is a linear walk, the compilations it prevents take minutes.
		if el := time.Since(start); el > 20*time.Second {
			t.Errorf("%s: refused after %v", c.name, el)
		}
	}
}

// TestCodeCapsConfigured: Config.Code replaces a default; the code-size
// cap refuses ten times its size (at the default, that is 80 MiB, more
// than the module size limit lets through).
func TestCodeCapsConfigured(t *testing.T) {
	t.Parallel()
	r, _ := newTestRuntime(t, Config{Code: CodeLimits{CodeBytes: 100_000}})
	if got := r.Config().Code; got.CodeBytes != 100_000 || got.Depth != wasmcheck.Default().Depth {
		t.Fatalf("Config().Code = %+v", got)
	}
	_, err := r.Compile(context.Background(), wasmgen.BigCode(1_000_000, 10_000), nil)
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(ve.Reason, "code section is") || !strings.Contains(ve.Reason, "the limit is 100000") {
		t.Fatalf("got %v", err)
	}
	m := mustCompile(t, r, wasmgen.BigCode(50_000, 10_000))
	_ = m.Close(context.Background())
}

// TestGoPoliciesWithinCaps: policies the Go toolchain builds compile, and
// each of their figures is at most two thirds of its cap. (Nesting is the
// tightest: 549, from a function of Go's runtime that every Go module
// holds.)
func TestGoPoliciesWithinCaps(t *testing.T) {
	t.Parallel()
	d := wasmcheck.Default()
	r, _ := newTestRuntime(t, Config{})
	for _, dir := range []string{"../examples/policies/read-only-paths", "testdata/gohostile"} {
		wasm := builder.Build(t, dir)
		st, err := wasmcheck.Scan(wasm)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for name, fig := range map[string][2]uint64{
			"functions":         {uint64(st.Functions), uint64(d.Functions)},
			"function locals":   {st.MaxFunctionLocals, uint64(d.FunctionLocals)},
			"total locals":      {st.TotalLocals, uint64(d.TotalLocals)},
			"code bytes":        {uint64(st.CodeBytes), uint64(d.CodeBytes)},
			"function bytes":    {uint64(st.MaxFunctionBytes), uint64(d.FunctionBytes)},
			"depth":             {uint64(st.MaxDepth), uint64(d.Depth)},
			"br_table targets":  {st.MaxBrTableTargets, uint64(d.BrTableTargets)},
			"total br_table tg": {st.TotalBrTableTargets, uint64(d.TotalBrTableTargets)},
		} {
			if fig[0]*3 > fig[1]*2 {
				t.Errorf("%s: %s is %d, more than two thirds of the cap %d", dir, name, fig[0], fig[1])
			}
		}
		m := mustCompile(t, r, wasm)
		_ = m.Close(context.Background())
	}
}

// TestAdminRefusesLocalsBomb: the upload through the admin API's
// routes (mounted as admin_test.go mounts them; the admin server in
// cmd/ftpgate/gateway/admin adds only authentication) gets a 400 whose
// JSON names the cap, and nothing is installed or stored.
func TestAdminRefusesLocalsBomb(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rt, _ := newTestRuntime(t, Config{}) // the default 16 MiB module limit
	store := &Store{Dir: dir}
	store.Restore(context.Background(), rt)
	mux := http.NewServeMux()
	for _, r := range (&AdminHandler{Runtime: rt, Store: store}).Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &adminFixture{t: t, srv: srv, rt: rt, dir: dir}

	wasm := wasmgen.ManyLocals(10000, 65535)
	if len(wasm) < 75_000 || len(wasm) > 85_000 {
		t.Fatalf("module is %d bytes, want the issue's 80 KB", len(wasm))
	}
	code, body := f.do("PUT", "/v1/tenants/acme/policy", "acme-secret", wasm)
	var resp struct{ Error string }
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 400 ||
		resp.Error != "function 3 declares 65535 locals; the limit is 4096 per function" {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if code, body := f.do("GET", "/v1/tenants/acme/policy", "acme-secret", nil); code != 404 {
		t.Fatalf("GET after the refusal: %d %s", code, body)
	}
	if _, _, ok := rt.Installed("acme"); ok {
		t.Fatal("a module is installed")
	}
	for _, sub := range []string{"tenants", "modules"} {
		if entries, _ := os.ReadDir(filepath.Join(dir, sub)); len(entries) != 0 {
			t.Fatalf("stored after the refusal: %s/%v", sub, entries)
		}
	}
}
