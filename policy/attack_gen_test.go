package policy

// Generators of modules whose cost lies outside the code section: a
// valid ABI-shaped policy plus extra types, globals or element segments.

import (
	w "github.com/ftpgate/ftpgate/policy/internal/wasmasm"
)

// attackParts are the extra sections of an attack module. Each field is
// the body of its section's vector (without the count), and the count.
type attackParts struct {
	types   []byte // extra function types, after the ABI's three
	nTypes  int
	globals []byte
	nGlobal int
	elems   []byte
	nElem   int
	imports []byte
	nImport int
	data    []byte
	nData   int
	table   uint32 // minimum size of one funcref table, 0 for none
	// noExports drops every export: the module compiles, then the
	// runtime refuses it (missing ftpp_abi_v1).
	noExports bool
}

func attackSection(id byte, n int, body []byte) []byte {
	v := append(w.U32(uint32(n)), body...)
	return append(append([]byte{id}, w.U32(uint32(len(v)))...), v...)
}

// attackModule assembles the ABI policy (marker, alloc returning 1024,
// check allowing) with p's extra sections.
func attackModule(p attackParts) []byte {
	types := []byte{
		0x60, 0, 0,
		0x60, 1, w.I32, 1, w.I32,
		0x60, 2, w.I32, w.I32, 1, w.I64,
	}
	types = append(types, p.types...)
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	out = append(out, attackSection(1, 3+p.nTypes, types)...)
	if p.nImport > 0 {
		out = append(out, attackSection(2, p.nImport, p.imports)...)
	}
	out = append(out, attackSection(3, 3, []byte{0, 1, 2})...)
	if p.table > 0 {
		out = append(out, attackSection(4, 1, append([]byte{0x70, 0}, w.U32(p.table)...))...)
	}
	out = append(out, attackSection(5, 1, []byte{0, 2})...)
	if p.nGlobal > 0 {
		out = append(out, attackSection(6, p.nGlobal, p.globals)...)
	}
	var exp []byte
	n := 0
	if !p.noExports {
		for i, name := range []string{"ftpp_abi_v1", "ftpp_alloc", "ftpp_check"} {
			exp = append(exp, byte(len(name)))
			exp = append(exp, name...)
			exp = append(exp, 0)
			exp = append(exp, w.U32(uint32(p.nImport+i))...)
		}
		exp = append(exp, 6)
		exp = append(exp, "memory"...)
		exp = append(exp, 2, 0)
		n = 4
	}
	out = append(out, attackSection(7, n, exp)...)
	if p.nElem > 0 {
		out = append(out, attackSection(9, p.nElem, p.elems)...)
	}
	code := []byte{
		2, 0, w.OpEnd,
		5, 0, w.OpI32Const, 0x80, 0x08, w.OpEnd,
		4, 0, w.OpI64Const, 0, w.OpEnd,
	}
	out = append(out, attackSection(10, 3, code)...)
	if p.nData > 0 {
		out = append(out, attackSection(11, p.nData, p.data)...)
	}
	return out
}

// distinctTypes returns n function types of params parameters each and
// no results; calls with other seeds return other types as long as
// (seed+1)*n < 6^params. The parameters spell seed*n+i in base 6 over
// the six value types (one byte each in the module; three to nine in
// wazero's name of the type).
func distinctTypes(n, params int, seed uint32) []byte {
	vts := []byte{w.I32, w.I64, 0x7d, 0x7c, 0x6f, 0x70}
	var b []byte
	for i := range n {
		b = append(b, 0x60)
		b = append(b, w.U32(uint32(params))...)
		v := uint64(seed)*uint64(n) + uint64(i)
		for range params {
			b = append(b, vts[v%6])
			v /= 6
		}
		b = append(b, 0)
	}
	return b
}

// manyGlobals returns n immutable i32 globals initialised to 0 (5 bytes
// each).
func manyGlobals(n int) []byte {
	b := make([]byte, 0, 5*n)
	for range n {
		b = append(b, w.I32, 0, w.OpI32Const, 0, w.OpEnd)
	}
	return b
}
