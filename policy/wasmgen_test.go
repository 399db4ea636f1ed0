package policy

import (
	"context"
	"testing"

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
