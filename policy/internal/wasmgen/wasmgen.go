// Package wasmgen generates hostile but valid WebAssembly modules: one
// shape per compile cost an attacker can buy with few bytes (locals,
// br_table targets, nesting, function count, code size). Every module
// otherwise has the shape of an ABI v1 policy (policy/abi): it defines and
// exports "memory", ftpp_abi_v1 () -> (), ftpp_alloc (i32) -> i32 and
// ftpp_check (i32, i32) -> i64, so a small instance of any shape passes
// policy.Runtime.Compile and a test can show that a static cap, not some
// later check, refuses a large one.
//
// The generators stream their output into one buffer sized up front: the
// module costs its own size in memory, nothing more.
package wasmgen

import (
	w "github.com/ftpgate/ftpgate/policy/internal/wasmasm"
)

// Opcodes and types the generators emit.
const (
	opBlock    = w.OpBlock
	opLoop     = w.OpLoop
	opIf       = w.OpIf
	opEnd      = w.OpEnd
	opBrTable  = 0x0e
	opLocalGet = w.OpLocalGet
	opLocalSet = w.OpLocalSet
	opI32Const = w.OpI32Const
	opI32Add   = w.OpI32Add
	i32        = w.I32
	blockVoid  = w.BlockVoid
)

// Nesting kinds for Nested.
const (
	Block = opBlock
	Loop  = opLoop
	If    = opIf
)

// abiFuncs is the number of functions of the ABI shape; extra functions
// follow them, so the first extra function has index abiFuncs.
const abiFuncs = 3

// Extra functions have type 0, () -> (). The ABI functions use types 0,
// 1 and 2.
var typeSection = []byte{
	3,
	0x60, 0, 0, // () -> ()
	0x60, 1, i32, 1, i32, // (i32) -> i32
	0x60, 2, i32, i32, 1, w.I64, // (i32, i32) -> i64
}

// The ABI functions' code entries, each with its size prefix: the marker
// does nothing, ftpp_alloc returns 1024, ftpp_check allows (returns 0).
var abiCode = [][]byte{
	{2, 0, opEnd},
	{5, 0, opI32Const, 0x80, 0x08, opEnd},
	{4, 0, w.OpI64Const, 0, opEnd},
}

var exportSection = func() []byte {
	b := []byte{4}
	for i, n := range []string{"ftpp_abi_v1", "ftpp_alloc", "ftpp_check"} {
		b = append(b, byte(len(n)))
		b = append(b, n...)
		b = append(b, 0, byte(i))
	}
	b = append(b, 6)
	b = append(b, "memory"...)
	return append(b, 2, 0)
}()

// Module assembles an ABI-shaped module with n extra functions of type
// () -> (). body(i, dst) appends the code of extra function i to dst: its
// locals vector then its instructions, final end included, without the
// size prefix. size(i) must return the exact length body(i) appends, so
// the module is written in one pass into one allocation.
func Module(n int, size func(i int) int, body func(i int, dst []byte) []byte) []byte {
	funcSec := uleb(uint32(abiFuncs + n))
	codeLen := len(uleb(uint32(abiFuncs + n)))
	for _, c := range abiCode {
		codeLen += len(c)
	}
	for i := range n {
		s := size(i)
		codeLen += len(uleb(uint32(s))) + s
	}
	funcLen := len(funcSec) + abiFuncs + n
	memSec := []byte{1, 0, 1} // one memory, min 1 page, no max
	total := 8 +
		sectionLen(len(typeSection)) + sectionLen(funcLen) + sectionLen(len(memSec)) +
		sectionLen(len(exportSection)) + sectionLen(codeLen)
	b := make([]byte, 0, total)
	b = append(b, 0, 'a', 's', 'm', 1, 0, 0, 0)
	b = appendSection(b, 1, typeSection)
	b = append(b, 3)
	b = append(b, uleb(uint32(funcLen))...)
	b = append(b, funcSec...)
	b = append(b, 0, 1, 2) // the marker, ftpp_alloc, ftpp_check
	for range n {
		b = append(b, 0)
	}
	b = appendSection(b, 5, memSec)
	b = appendSection(b, 7, exportSection)
	b = append(b, 10)
	b = append(b, uleb(uint32(codeLen))...)
	b = append(b, uleb(uint32(abiFuncs+n))...)
	for _, c := range abiCode {
		b = append(b, c...)
	}
	for i := range n {
		b = append(b, uleb(uint32(size(i)))...)
		b = body(i, b)
	}
	return b
}

// uniform is Module with every extra function's code the same bytes.
func uniform(n int, code []byte) []byte {
	return Module(n, func(int) int { return len(code) }, func(_ int, dst []byte) []byte { return append(dst, code...) })
}

// Functions is the function count of a module Module(n, ...) makes.
func Functions(n int) int { return abiFuncs + n }

// ManyLocals has funcs functions that each declare locals i32 locals in
// one locals entry (and do nothing): 8 bytes a function for a 65535-local
// one. This is the 80 KB module for (10000, 65535).
func ManyLocals(funcs int, locals uint32) []byte {
	code := append([]byte{1}, uleb(locals)...)
	code = append(code, i32, opEnd)
	return uniform(funcs, code)
}

// WideBrTable has one function holding one br_table of targets targets,
// each label 0 (a target costs one byte):
//
//	(block (br_table 0 0 … 0 (i32.const 0)))
func WideBrTable(targets uint32) []byte { return BrTables(1, 1, targets) }

// BrTables has funcs functions that each hold tables br_tables of targets
// targets (each label 0), one after the other in one block.
func BrTables(funcs, tables int, targets uint32) []byte {
	one := []byte{opI32Const, 0, opBrTable}
	one = append(one, uleb(targets)...)
	n := 3 + tables*(len(one)+int(targets)+1) + 2
	return Module(funcs, func(int) int { return n }, func(_ int, b []byte) []byte {
		b = append(b, 0, opBlock, blockVoid)
		for range tables {
			b = append(b, one...)
			for range targets + 1 { // the targets, then the default label
				b = append(b, 0)
			}
		}
		return append(b, opEnd, opEnd) // end block, end function
	})
}

// NestedBlocks has one function of depth nested empty blocks.
func NestedBlocks(depth int) []byte { return Nested(Block, depth) }

// Nested has one function of depth nested empty constructs of kind Block,
// Loop or If (an if takes an i32.const 0 condition).
func Nested(kind byte, depth int) []byte { return NestedFuncs(1, kind, depth) }

// NestedFuncs has funcs functions like Nested's one.
func NestedFuncs(funcs int, kind byte, depth int) []byte {
	open := []byte{kind, blockVoid}
	if kind == If {
		open = []byte{opI32Const, 0, If, blockVoid}
	}
	n := 1 + depth*(len(open)+1) + 1
	return Module(funcs, func(int) int { return n }, func(_ int, b []byte) []byte {
		b = append(b, 0)
		for range depth {
			b = append(b, open...)
		}
		for range depth {
			b = append(b, opEnd)
		}
		return append(b, opEnd)
	})
}

// ManyFunctions has n extra empty functions (3 bytes each).
func ManyFunctions(n int) []byte { return uniform(n, []byte{0, opEnd}) }

// codeChunk is the unit of BigFunction and BigCode: it reads two locals,
// adds them and writes one back, 7 bytes and one new SSA value each.
var codeChunk = []byte{opLocalGet, 0, opLocalGet, 1, opI32Add, opLocalSet, 1}

// bigBody is a function body of exactly size bytes (size ≥ 5): two i32
// locals, codeChunk repeated, padded with nops.
func bigBody(size int) (int, func(dst []byte) []byte) {
	const head = 3 // locals vector: 1 entry of 2 i32
	chunks := (size - head - 1) / len(codeChunk)
	pad := size - head - 1 - chunks*len(codeChunk)
	return size, func(b []byte) []byte {
		b = append(b, 1, 2, i32)
		for range chunks {
			b = append(b, codeChunk...)
		}
		for range pad {
			b = append(b, 0x01) // nop
		}
		return append(b, opEnd)
	}
}

// BigFunction has one function whose body is size bytes (at least 5) of
// straight-line local arithmetic.
func BigFunction(size int) []byte {
	size = max(size, 5)
	n, body := bigBody(size)
	return Module(1, func(int) int { return n }, func(_ int, b []byte) []byte { return body(b) })
}

// BigCode has functions of perFunc body bytes each (the last one shorter)
// adding up to about total bytes of code: what a code-size cap must bound
// when the per-function cap holds.
func BigCode(total, perFunc int) []byte {
	perFunc = max(perFunc, 5)
	n := max(1, (total+perFunc-1)/perFunc)
	sz := func(i int) int {
		if i == n-1 {
			return max(5, total-perFunc*(n-1))
		}
		return perFunc
	}
	return Module(n, sz, func(i int, b []byte) []byte {
		_, body := bigBody(sz(i))
		return body(b)
	})
}

func uleb(v uint32) []byte { return w.U32(v) }

func sectionLen(n int) int { return 1 + len(uleb(uint32(n))) + n }

func appendSection(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = append(b, uleb(uint32(len(body)))...)
	return append(b, body...)
}

// LoopedLocals has funcs functions that each declare locals i32 locals
// and nest depth loops; the innermost adds one to every local, so every
// loop header needs a phi for every local and all of them stay live:
// compile cost grows with locals × depth in each function.
//
//	(loop … (loop (local.set $i (i32.add (local.get $i) (i32.const 1))) …) …)
func LoopedLocals(funcs int, locals uint32, depth int) []byte {
	var body []byte
	body = append(body, 1)
	body = append(body, uleb(locals)...)
	body = append(body, i32)
	for range depth {
		body = append(body, opLoop, blockVoid)
	}
	for i := range locals {
		body = append(body, opLocalGet)
		body = append(body, uleb(i)...)
		body = append(body, opI32Const, 1, opI32Add, opLocalSet)
		body = append(body, uleb(i)...)
	}
	for range depth {
		body = append(body, opEnd)
	}
	body = append(body, opEnd)
	return uniform(funcs, body)
}

// LiveAcrossBranches has funcs functions that each declare locals i32
// locals, set them all, run branches sibling (block (br_if 0 (local.get 0)))
// and then store the sum of all locals: every local is live across every
// branch, so a register allocator's work grows with locals × branches.
func LiveAcrossBranches(funcs int, locals uint32, branches int) []byte {
	var body []byte
	body = append(body, 1)
	body = append(body, uleb(locals)...)
	body = append(body, i32)
	for i := range locals {
		body = append(body, opI32Const, byte(i&0x3f), opLocalSet)
		body = append(body, uleb(i)...)
	}
	for range branches {
		body = append(body, opBlock, blockVoid, opLocalGet, 0, w.OpBrIf, 0, opEnd)
	}
	body = append(body, opI32Const, 0, opI32Const, 0)
	for i := range locals {
		body = append(body, opLocalGet)
		body = append(body, uleb(i)...)
		body = append(body, opI32Add)
	}
	body = append(body, 0x36, 2, 0, opEnd) // i32.store align=2 offset=0
	return uniform(funcs, body)
}

// StackAcrossBranches is LiveAcrossBranches with the live values on the
// operand stack instead of in locals: each function pushes values copies
// of its one local (an i32 param would do as well), runs branches sibling
// (block (br_if 0 (local.get 0))), adds everything up and stores it.
// Declared locals do not bound the values live across a branch.
func StackAcrossBranches(funcs, values, branches int) []byte {
	var body []byte
	body = append(body, 1, 1, i32, opI32Const, 7, opLocalSet, 0)
	for range values {
		body = append(body, opI32Const, 0, w.OpI32Load, 2, 0) // distinct values: loads
	}
	for range branches {
		body = append(body, opBlock, blockVoid, opLocalGet, 0, w.OpBrIf, 0, opEnd)
	}
	for range values - 1 {
		body = append(body, opI32Add)
	}
	body = append(body, opLocalSet, 0, opI32Const, 0, opLocalGet, 0, 0x36, 2, 0, opEnd) // i32.store align=2 offset=0
	return uniform(funcs, body)
}
