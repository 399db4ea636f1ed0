package wasmgen

import (
	"context"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Small returns a small instance of every shape, by name.
func small() map[string][]byte {
	return map[string][]byte{
		"ManyLocals":    ManyLocals(50, 300),
		"WideBrTable":   WideBrTable(1000),
		"NestedBlocks":  NestedBlocks(200),
		"NestedLoops":   Nested(Loop, 200),
		"NestedIfs":     Nested(If, 200),
		"ManyFunctions": ManyFunctions(1000),
		"BigFunction":   BigFunction(10000),
		"BigCode":       BigCode(20000, 3000),
		"NoExtra":       ManyFunctions(0),
		"BrTables":      BrTables(3, 2, 100),
		"NestedFuncs":   NestedFuncs(3, Loop, 20),
		"LoopedLocals":  LoopedLocals(2, 50, 10),
		"LiveLocals":    LiveAcrossBranches(2, 50, 10),
		"LiveStack":     StackAcrossBranches(2, 50, 10),
	}
}

// TestValid: wazero compiles a small instance of every shape, and each has
// the ABI's exports with their types.
func TestValid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	want := map[string][2][]api.ValueType{
		"ftpp_abi_v1": {nil, nil},
		"ftpp_alloc":  {{i32}, {i32}},
		"ftpp_check":  {{i32, i32}, {i64}},
	}
	for name, b := range small() {
		if len(b) != cap(b) {
			t.Errorf("%s: %d bytes in a buffer of %d: the size computation is off", name, len(b), cap(b))
		}
		cm, err := r.CompileModule(ctx, b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		exp := cm.ExportedFunctions()
		for fn, sig := range want {
			d, ok := exp[fn]
			if !ok || !slices.Equal(d.ParamTypes(), sig[0]) || !slices.Equal(d.ResultTypes(), sig[1]) {
				t.Errorf("%s: export %s missing or of the wrong type", name, fn)
			}
		}
		if _, ok := cm.ExportedMemories()["memory"]; !ok {
			t.Errorf("%s: no exported memory", name)
		}
		_ = cm.Close(ctx)
	}
}

// TestSizes: the shapes cost what their comments say, so a test can build
// the modules.
func TestSizes(t *testing.T) {
	t.Parallel()
	if n := len(ManyLocals(10000, 65535)); n < 75_000 || n > 85_000 {
		t.Errorf("ManyLocals(10000, 65535) is %d bytes, want about 80 KB", n)
	}
	if n := len(WideBrTable(1 << 20)); n < 1<<20 || n > 1<<20+200 {
		t.Errorf("WideBrTable(1<<20) is %d bytes", n)
	}
	for _, size := range []int{5, 6, 7, 100, 4097} {
		b := BigFunction(size)
		if d := len(b) - len(ManyFunctions(0)); d < size || d > size+8 {
			t.Errorf("BigFunction(%d) adds %d bytes", size, d)
		}
	}
	if n := len(BigCode(100000, 1000)); n < 100000 || n > 103000 {
		t.Errorf("BigCode(100000, 1000) is %d bytes", n)
	}
}
