package wasmcheck

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/policy/internal/wasmgen"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// small are limits low enough that tests build modules over them cheaply.
var small = Limits{
	Functions:           100,
	FunctionLocals:      50,
	TotalLocals:         400,
	CodeBytes:           20000,
	FunctionBytes:       3000,
	Depth:               30,
	BrTableTargets:      200,
	TotalBrTableTargets: 500,
}

// TestCaps: each shape is accepted at its cap and refused one past it,
// with a LimitError naming the cap, the value and the limit.
func TestCaps(t *testing.T) {
	t.Parallel()
	// Extra functions start after the three ABI functions.
	first := wasmgen.Functions(0)
	cases := []struct {
		name     string
		at, over []byte
		cap      string
		msg      string
	}{
		{"functions", wasmgen.ManyFunctions(100 - first), wasmgen.ManyFunctions(101 - first), "Functions",
			"module defines 101 functions; the limit is 100"},
		{"locals per function", wasmgen.ManyLocals(1, 50), wasmgen.ManyLocals(1, 51), "FunctionLocals",
			"function 3 declares 51 locals; the limit is 50 per function"},
		{"total locals", wasmgen.ManyLocals(8, 50), wasmgen.ManyLocals(9, 50), "TotalLocals",
			"functions declare 450 locals in all (counted up to function 11); the limit is 400 per module"},
		{"function bytes", wasmgen.BigFunction(3000), wasmgen.BigFunction(3001), "FunctionBytes",
			"function 3 is 3001 bytes of code; the limit is 3000 per function"},
		{"depth", wasmgen.NestedBlocks(30), wasmgen.NestedBlocks(31), "Depth",
			"function 3 nests blocks 31 deep; the limit is 30"},
		{"loop depth", wasmgen.Nested(wasmgen.Loop, 30), wasmgen.Nested(wasmgen.Loop, 31), "Depth", "nests blocks 31 deep"},
		{"if depth", wasmgen.Nested(wasmgen.If, 30), wasmgen.Nested(wasmgen.If, 31), "Depth", "nests blocks 31 deep"},
		// The default label counts: 199 + 1 targets.
		{"br_table", wasmgen.WideBrTable(199), wasmgen.WideBrTable(200), "BrTableTargets",
			"function 3 has a br_table of 201 targets; the limit is 200 per br_table"},
		{"total br_table", wasmgen.BrTables(5, 1, 99), wasmgen.BrTables(6, 1, 99), "TotalBrTableTargets",
			"br_tables have 600 targets in all (counted up to function 8); the limit is 500 per module"},
	}
	for _, c := range cases {
		if err := Check(c.at, small); err != nil {
			t.Errorf("%s at the cap: %v", c.name, err)
		}
		err := Check(c.over, small)
		var le *LimitError
		if !errors.As(err, &le) || le.Cap != c.cap || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s over the cap: %v, want a %s LimitError saying %q", c.name, err, c.cap, c.msg)
		}
	}
	// Code bytes: functions under the per-function cap adding up past
	// the total.
	code := wasmgen.BigCode(19000, 2000)
	st, err := Scan(code)
	if err != nil {
		t.Fatal(err)
	}
	lim := small
	lim.CodeBytes = st.CodeBytes
	if err := Check(code, lim); err != nil {
		t.Errorf("code at the cap: %v", err)
	}
	lim.CodeBytes--
	want := "code section is " + itoa(st.CodeBytes) + " bytes; the limit is " + itoa(st.CodeBytes-1)
	if err := Check(code, lim); err == nil || err.Error() != want {
		t.Errorf("code over the cap: %v, want %q", err, want)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestIssueModules: the issue's modules are refused by the defaults.
func TestIssueModules(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		wasm []byte
		cap  string
	}{
		"80 KB of 10,000 × 65,535 locals": {wasmgen.ManyLocals(10000, 65535), "FunctionLocals"},
		"3M-target br_table":              {wasmgen.WideBrTable(3_000_000), "FunctionBytes"},
		"900 KB of nested blocks":         {wasmgen.NestedBlocks(300_000), "FunctionBytes"},
		"80,000 nested blocks in 240 KB":  {wasmgen.NestedBlocks(80_000), "Depth"},
		"a 200,000-target br_table":       {wasmgen.WideBrTable(200_000), "BrTableTargets"},
	} {
		var le *LimitError
		if err := Check(c.wasm, Limits{}); !errors.As(err, &le) || le.Cap != c.cap {
			t.Errorf("%s: %v, want a %s LimitError", name, err, c.cap)
		}
	}
}

// TestLocalsOverflow: locals entries of 2^32-1 each are refused at the
// first, never summed into a wrapped count.
func TestLocalsOverflow(t *testing.T) {
	t.Parallel()
	body := []byte{3, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b}
	m := wasmgen.Module(1, func(int) int { return len(body) }, func(_ int, b []byte) []byte { return append(b, body...) })
	var le *LimitError
	if err := Check(m, Limits{}); !errors.As(err, &le) || le.Cap != "FunctionLocals" || le.Value != 0xffffffff {
		t.Fatalf("got %v", err)
	}
	st, err := Scan(m)
	if err != nil || st.TotalLocals != 3*0xffffffff {
		t.Fatalf("Scan: %+v, %v", st, err)
	}
}

// TestMalformed: what the parser cannot walk is a FormatError with an
// offset, never a panic or a pass.
func TestMalformed(t *testing.T) {
	t.Parallel()
	good := wasmgen.NestedBlocks(3)
	cases := map[string][]byte{
		"empty":                  nil,
		"no magic":               []byte("\x01asm\x01\x00\x00\x00"),
		"section past the end":   []byte("\x00asm\x01\x00\x00\x00\x0a\xff\x01\x00"),
		"function count bomb":    []byte("\x00asm\x01\x00\x00\x00\x0a\x06\xff\xff\xff\xff\x0f\x00"),
		"LEB too long":           []byte("\x00asm\x01\x00\x00\x00\x0a\x07\xff\xff\xff\xff\xff\xff\x00"),
		"LEB over 32 bits":       []byte("\x00asm\x01\x00\x00\x00\x03\x05\xff\xff\xff\xff\x7f"),
		"truncated":              good[:len(good)-3],
		"unknown opcode":         body(0x00, 0x27, 0x0b),
		"unknown 0xfc":           body(0x00, 0xfc, 0x12, 0x0b),
		"unknown 0xfd":           body(0x00, 0xfd, 0xa0, 0x04, 0x0b),
		"unknown 0xfe":           body(0x00, 0xfe, 0x05, 0x0b),
		"no final end":           body(0x00, 0x02, 0x40, 0x0b),
		"bytes after final end":  body(0x00, 0x0b, 0x01),
		"br_table count bomb":    body(0x00, 0x41, 0x00, 0x0e, 0xff, 0xff, 0x03, 0x00, 0x0b),
		"locals count bomb":      body(0xff, 0xff, 0x03, 0x7f, 0x0b),
		"delegate outside a try": body(0x00, 0x18, 0x00, 0x0b),
		"bad import kind":        []byte("\x00asm\x01\x00\x00\x00\x02\x06\x01\x01a\x01b\x09"),
	}
	for name, b := range cases {
		_, err := Scan(b)
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: Scan gave %v, want a FormatError", name, err)
		}
		if err := Check(b, Limits{}); err == nil {
			t.Errorf("%s: Check passed", name)
		}
	}
}

// body is a module of one function with the given code (locals vector,
// instructions, final end).
func body(code ...byte) []byte {
	return wasmgen.Module(1, func(int) int { return len(code) }, func(_ int, b []byte) []byte { return append(b, code...) })
}

// TestImmediates: every instruction with immediates is skipped exactly.
// Each immediate is chosen to read as an opcode that changes the nesting
// (0x02 block, 0x0b end, 0x0e br_table), so skipping one byte too few or
// too many shows up as a wrong depth or an error. The bodies need not
// type-check: the parser does not validate.
func TestImmediates(t *testing.T) {
	t.Parallel()
	instrs := map[string][]byte{
		"block i32":           {0x02, 0x7f, 0x0b},
		"block type index":    {0x02, 0x02, 0x0b},
		"block ref type":      {0x02, 0x63, 0x70, 0x0b},
		"loop":                {0x03, 0x40, 0x0b},
		"if else":             {0x04, 0x40, 0x05, 0x0b},
		"try catch":           {0x06, 0x40, 0x07, 0x0b, 0x19, 0x0b},
		"try delegate":        {0x06, 0x40, 0x18, 0x02},
		"try_table":           {0x1f, 0x40, 0x04, 0x00, 0x0b, 0x02, 0x01, 0x02, 0x0e, 0x02, 0x0b, 0x03, 0x02, 0x0b},
		"throw":               {0x08, 0x0b},
		"rethrow":             {0x09, 0x02},
		"br":                  {0x0c, 0x0b},
		"br_if":               {0x0d, 0x8b, 0x01},
		"br_table":            {0x0e, 0x02, 0x0b, 0x02, 0x0e},
		"call":                {0x10, 0x8b, 0x82, 0x00},
		"call_indirect":       {0x11, 0x0b, 0x02},
		"return_call":         {0x12, 0x0b},
		"return_call_indir.":  {0x13, 0x0b, 0x02},
		"call_ref":            {0x14, 0x0b},
		"select t":            {0x1c, 0x02, 0x7f, 0x64, 0x0b},
		"local.get":           {0x20, 0x0b},
		"local.tee":           {0x22, 0x82, 0x0b},
		"global.set":          {0x24, 0x02},
		"table.get":           {0x25, 0x0b},
		"i32.load":            {0x28, 0x02, 0x0b},
		"i64.store32 offset":  {0x3e, 0x02, 0x8b, 0x82, 0x8b, 0x82, 0x0b},
		"load memory index":   {0x28, 0x42, 0x02, 0x0b},
		"memory.grow":         {0x40, 0x0b},
		"i32.const":           {0x41, 0x8b, 0x82, 0x0b},
		"i64.const":           {0x42, 0x8b, 0x8b, 0x8b, 0x8b, 0x8b, 0x8b, 0x8b, 0x8b, 0x8b, 0x0b},
		"f32.const":           {0x43, 0x02, 0x0b, 0x02, 0x0b},
		"f64.const":           {0x44, 0x02, 0x0b, 0x02, 0x0b, 0x02, 0x0b, 0x02, 0x0b},
		"numeric":             {0x45, 0x6a, 0xbf, 0xc0, 0xc4},
		"ref.null":            {0xd0, 0x70},
		"ref.func":            {0xd2, 0x0b},
		"br_on_null":          {0xd5, 0x02},
		"trunc_sat":           {0xfc, 0x07},
		"memory.init":         {0xfc, 0x08, 0x0b, 0x02},
		"data.drop":           {0xfc, 0x09, 0x0b},
		"memory.copy":         {0xfc, 0x0a, 0x02, 0x0b},
		"memory.fill":         {0xfc, 0x0b, 0x02},
		"table.copy":          {0xfc, 0x0e, 0x0b, 0x02},
		"table.fill":          {0xfc, 0x11, 0x0b},
		"v128.load":           {0xfd, 0x00, 0x02, 0x0b},
		"v128.const":          {0xfd, 0x0c, 2, 11, 2, 11, 2, 11, 2, 11, 2, 11, 2, 11, 2, 11, 2, 11},
		"i8x16.shuffle":       {0xfd, 0x0d, 2, 11, 2, 11, 2, 11, 2, 11, 2, 11, 2, 11, 2, 11, 2, 11},
		"extract_lane":        {0xfd, 0x15, 0x0b},
		"replace_lane f64x2":  {0xfd, 0x22, 0x02},
		"load8_lane":          {0xfd, 0x54, 0x02, 0x0b, 0x02},
		"load64_zero":         {0xfd, 0x5d, 0x02, 0x0b},
		"simd two-byte op":    {0xfd, 0x80, 0x01},
		"relaxed simd":        {0xfd, 0x93, 0x02},
		"atomic.notify":       {0xfe, 0x00, 0x02, 0x0b},
		"atomic.fence":        {0xfe, 0x03, 0x0b},
		"i64.atomic.rmw.cmpx": {0xfe, 0x4e, 0x02, 0x0b},
	}
	for name, in := range instrs {
		code := []byte{0x01, 0x02, 0x7f} // two i32 locals
		code = append(code, in...)
		code = append(code, 0x02, 0x40, 0x02, 0x40, 0x0b, 0x0b, 0x0b)
		st, err := Scan(body(code...))
		if err != nil || st.MaxDepth != 2 {
			t.Errorf("%s: depth %d, %v; want 2 and no error", name, st.MaxDepth, err)
		}
	}
}

// realModules are the policies committed to the repository, and the
// hand-assembled example.
func realModules(t testing.TB) map[string][]byte {
	m := map[string][]byte{"testmod example": testmod.Example()}
	if b, err := os.ReadFile("../../../examples/policies/wat/example.wasm"); err == nil {
		m["examples/policies/wat"] = b
	} else {
		t.Fatal(err)
	}
	return m
}

// TestRealModules: real policies pass with their figures where expected.
// (Go-built policies are checked through Runtime.Compile in package
// policy, which builds them.)
func TestRealModules(t *testing.T) {
	t.Parallel()
	for name, b := range realModules(t) {
		st, err := Scan(b)
		if err != nil || st.Functions < 4 || st.MaxDepth < 2 {
			t.Errorf("%s: %+v, %v", name, st, err)
		}
		if err := Check(b, Limits{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestNoAllocation: checking allocates a fixed handful of objects and
// bytes whatever the module declares. (Not parallel: it reads the
// process's allocation counters.)
func TestNoAllocation(t *testing.T) {
	for name, b := range map[string][]byte{
		"many locals": wasmgen.ManyLocals(2000, 65535),
		"br_table":    wasmgen.WideBrTable(100000),
		"nesting":     wasmgen.NestedBlocks(50000),
		"functions":   wasmgen.ManyFunctions(40000),
	} {
		if a := testing.AllocsPerRun(3, func() { _, _ = Scan(b) }); a > 4 {
			t.Errorf("%s: Scan made %v allocations", name, a)
		}
		if a := testing.AllocsPerRun(3, func() { _ = Check(b, Limits{}) }); a > 4 {
			t.Errorf("%s: Check made %v allocations", name, a)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = Check(b, Limits{})
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 4096 {
			t.Errorf("%s: Check allocated %d bytes", name, n)
		}
	}
}

// FuzzCheck: arbitrary bytes never panic, never allocate more than a
// constant handful of objects (so nothing sized by a declared count), and a module Scan measures passes Check at limits
// equal to its own figures.
func FuzzCheck(f *testing.F) {
	for _, b := range realModules(f) {
		f.Add(b)
	}
	for _, b := range [][]byte{
		wasmgen.ManyLocals(3, 70), wasmgen.WideBrTable(300), wasmgen.NestedBlocks(40),
		wasmgen.Nested(wasmgen.If, 5), wasmgen.ManyFunctions(120), wasmgen.BigFunction(400),
		wasmgen.BigCode(3000, 500), wasmgen.LoopedLocals(2, 5, 3), wasmgen.StackAcrossBranches(1, 4, 3),
	} {
		f.Add(b)
	}
	if dir := os.Getenv("WASMCHECK_SEEDS"); dir != "" {
		// Go-built policies, e.g. the examples built with GOOS=wasip1.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if b, err := os.ReadFile(dir + "/" + e.Name()); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var st Stats
		var err error
		// A constant bound: an error costs a few (its message), a count
		// the module declares none. AllocsPerRun counts the process's
		// allocations, so the bound leaves room for the fuzzing engine's.
		if a := testing.AllocsPerRun(3, func() { st, err = Scan(b) }); a > 16 {
			t.Fatalf("Scan made %v allocations", a)
		}
		if a := testing.AllocsPerRun(3, func() { _ = Check(b, small) }); a > 16 {
			t.Fatalf("Check made %v allocations", a)
		}
		if err != nil {
			return
		}
		own := Limits{
			Functions: max(1, st.Functions), FunctionLocals: max(1, int(min(st.MaxFunctionLocals, 1<<40))),
			TotalLocals: max(1, int(min(st.TotalLocals, 1<<40))), CodeBytes: max(1, st.CodeBytes),
			FunctionBytes: max(1, st.MaxFunctionBytes), Depth: max(1, st.MaxDepth),
			BrTableTargets: max(1, int(st.MaxBrTableTargets)), TotalBrTableTargets: max(1, int(st.TotalBrTableTargets)),
		}
		if err := Check(b, own); err != nil {
			t.Fatalf("Scan measured %+v, but Check at those limits: %v", st, err)
		}
	})
}
