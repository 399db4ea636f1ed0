// Package wasmcheck bounds what compiling a WebAssembly module can cost
// before a compiler sees it. A streaming pre-parser reads the function,
// import and code sections once, skipping every instruction's immediates,
// and refuses a module that declares more functions or locals, more code,
// deeper nesting or wider br_tables than Limits allow: the shapes whose
// compile time or memory grows faster than the module's bytes.
//
// The parser allocates nothing that depends on the module: no count a
// module declares is used to size anything, every length is checked
// against the bytes that remain, and every LEB128 read is bounded. Its
// work is linear in the module's length.
//
// It is not a validator. It checks the binary structure it needs to walk
// instructions and leaves types, indices and stack shapes to the
// compiler; a module it accepts may still be invalid.
package wasmcheck

import (
	"errors"
	"fmt"
)

// Limits are the caps Check enforces. A zero field takes its default.
//
// The defaults bound what compiling costs per byte of code. Measured with
// wazero v1.12.0 (bench/README.md, "Policy compile caps"), the worst
// module each cap allows compiles in a few seconds and tens of MiB, at no
// more than about four times the cost per byte of a module the Go
// toolchain builds; without them, 80 KB of locals or 3 MB of br_table
// cost gigabytes and minutes. The Go toolchain's policies stay well
// inside every default (about 1,800 functions, 17 locals, nesting 549 and
// 900-target br_tables for the examples; 4,800 functions and 4.4 MiB of
// code for a program using fmt, encoding/json, regexp and text/template).
//
// What the caps cannot bound is cost that grows with the values live
// across each branch of one function: a function of n bytes can cost in
// the order of n² however it is built. FunctionBytes bounds n; the
// compile deadline bounds the rest.
type Limits struct {
	// Functions caps the functions a module defines, imports excluded
	// (default 50000).
	Functions int
	// FunctionLocals caps the locals one function declares, parameters
	// excluded (default 4096).
	FunctionLocals int
	// TotalLocals caps the locals all functions declare together
	// (default 1048576).
	TotalLocals int
	// CodeBytes caps the code section's size (default 8 MiB).
	CodeBytes int
	// FunctionBytes caps one function body's size (default 256 KiB).
	FunctionBytes int
	// Depth caps how deeply block, loop, if, try and try_table nest in one
	// function (default 1024).
	Depth int
	// BrTableTargets caps the targets of one br_table, its default
	// label included (default 4096).
	BrTableTargets int
	// TotalBrTableTargets caps the br_table targets of the whole module
	// (default 524288).
	TotalBrTableTargets int
}

// Default returns Limits with every field at its default.
func Default() Limits {
	return Limits{
		Functions:           50000,
		FunctionLocals:      4096,
		TotalLocals:         1 << 20,
		CodeBytes:           8 << 20,
		FunctionBytes:       256 << 10,
		Depth:               1024,
		BrTableTargets:      4096,
		TotalBrTableTargets: 1 << 19,
	}
}

// WithDefaults returns l with every zero (or negative) field set to its
// default.
func (l Limits) WithDefaults() Limits {
	d := Default()
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.Functions, d.Functions)
	set(&l.FunctionLocals, d.FunctionLocals)
	set(&l.TotalLocals, d.TotalLocals)
	set(&l.CodeBytes, d.CodeBytes)
	set(&l.FunctionBytes, d.FunctionBytes)
	set(&l.Depth, d.Depth)
	set(&l.BrTableTargets, d.BrTableTargets)
	set(&l.TotalBrTableTargets, d.TotalBrTableTargets)
	return l
}

// Stats is what Scan measured: the module's figure for each cap.
type Stats struct {
	Functions           int    // defined functions: the larger of the function and code sections' counts
	ImportedFunctions   int    // imported functions, which come first in the index space
	MaxFunctionLocals   uint64 // the most locals one function declares
	TotalLocals         uint64 // locals all functions declare
	CodeBytes           int    // the code section's size
	MaxFunctionBytes    int    // the largest function body
	MaxDepth            int    // the deepest nesting of block, loop, if, try, try_table
	MaxBrTableTargets   uint64 // the widest br_table, default label included
	TotalBrTableTargets uint64 // br_table targets in all
}

// LimitError is a module over one of the caps.
type LimitError struct {
	// Cap is the Limits field the module exceeds, e.g. "FunctionLocals".
	Cap string
	// Function is the index of the offending function in the module's
	// function index space (imports first), or -1 for a module-wide cap.
	Function int
	// Value is the module's figure, or where the parser stopped counting
	// once it exceeded Limit; Limit is the cap.
	Value, Limit uint64
}

func (e *LimitError) Error() string {
	switch e.Cap {
	case "Functions":
		return fmt.Sprintf("module defines %d functions; the limit is %d", e.Value, e.Limit)
	case "FunctionLocals":
		return fmt.Sprintf("function %d declares %d locals; the limit is %d per function", e.Function, e.Value, e.Limit)
	case "TotalLocals":
		return fmt.Sprintf("functions declare %d locals in all (counted up to function %d); the limit is %d per module", e.Value, e.Function, e.Limit)
	case "CodeBytes":
		return fmt.Sprintf("code section is %d bytes; the limit is %d", e.Value, e.Limit)
	case "FunctionBytes":
		return fmt.Sprintf("function %d is %d bytes of code; the limit is %d per function", e.Function, e.Value, e.Limit)
	case "Depth":
		return fmt.Sprintf("function %d nests blocks %d deep; the limit is %d", e.Function, e.Value, e.Limit)
	case "BrTableTargets":
		return fmt.Sprintf("function %d has a br_table of %d targets; the limit is %d per br_table", e.Function, e.Value, e.Limit)
	case "TotalBrTableTargets":
		return fmt.Sprintf("br_tables have %d targets in all (counted up to function %d); the limit is %d per module", e.Value, e.Function, e.Limit)
	}
	return fmt.Sprintf("%s is %d; the limit is %d", e.Cap, e.Value, e.Limit)
}

// FormatError is a module the parser cannot walk: truncated, a length
// past the end, an unknown opcode. Offset is where in the module.
type FormatError struct {
	Offset int
	Msg    string
}

func (e *FormatError) Error() string { return fmt.Sprintf("at offset %d: %s", e.Offset, e.Msg) }

// Check returns nil if wasm is within l (zero fields take their
// defaults), a *LimitError naming the first cap it exceeds, or a
// *FormatError if the sections it reads are malformed. It stops at the
// first error, so its work is bounded by the module's length.
func Check(wasm []byte, l Limits) error {
	_, err := scan(wasm, l.WithDefaults())
	return err
}

// Scan measures wasm without caps: its Stats, or a *FormatError.
func Scan(wasm []byte) (Stats, error) {
	const n = int(^uint(0) >> 1)
	return scan(wasm, Limits{n, n, n, n, n, n, n, n})
}

var errEnd = errors.New("unexpected end")

// parser reads b, remembering the first error. All reads past the end
// return zero and set err, so loops test err and stop.
type parser struct {
	b   []byte
	off int
	err error
}

func (p *parser) fail(msg string, args ...any) {
	if p.err == nil {
		p.err = &FormatError{Offset: p.off, Msg: fmt.Sprintf(msg, args...)}
	}
}

func (p *parser) left() int { return len(p.b) - p.off }

func (p *parser) byte() byte {
	if p.err != nil {
		return 0
	}
	if p.off >= len(p.b) {
		p.fail("%v", errEnd)
		return 0
	}
	c := p.b[p.off]
	p.off++
	return c
}

func (p *parser) skip(n int) {
	if p.err != nil {
		return
	}
	if n < 0 || n > p.left() {
		p.fail("%d bytes needed, %d left", n, p.left())
		return
	}
	p.off += n
}

// uleb reads an unsigned LEB128 of at most bits bits (32 or 64).
func (p *parser) uleb(bits int) uint64 {
	var v uint64
	maxBytes := (bits + 6) / 7
	for i := range maxBytes {
		c := p.byte()
		if p.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if i == maxBytes-1 && bits < 64 && c>>(bits-7*i) != 0 {
				p.fail("integer overflows %d bits", bits)
				return 0
			}
			return v
		}
	}
	p.fail("LEB128 longer than %d bytes", maxBytes)
	return 0
}

func (p *parser) u32() uint32 { return uint32(p.uleb(32)) }

// sleb reads a signed LEB128 of at most bits bits and returns it
// sign-extended (only block types and heap types need the value).
func (p *parser) sleb(bits int) int64 {
	var v int64
	maxBytes := (bits + 6) / 7
	shift := 0
	for range maxBytes {
		c := p.byte()
		if p.err != nil {
			return 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
	p.fail("LEB128 longer than %d bytes", maxBytes)
	return 0
}

// count reads a vector length, which cannot exceed the bytes left when
// each element takes at least one byte.
func (p *parser) count() uint32 {
	n := p.u32()
	if p.err == nil && int64(n) > int64(p.left()) {
		p.fail("vector of %d elements in %d bytes", n, p.left())
		return 0
	}
	return n
}

// The single-byte encodings of (ref null ht) and (ref ht), read as s33.
const (
	refNull = 0x63 - 0x80
	ref     = 0x64 - 0x80
)

// valType skips a value type, a reference type's heap type included.
func (p *parser) valType() {
	if c := p.byte(); c == 0x63 || c == 0x64 {
		p.sleb(33)
	}
}

// blockType skips a block type: empty, a value type or a type index.
func (p *parser) blockType() {
	if v := p.sleb(33); v == refNull || v == ref {
		p.sleb(33)
	}
}

// memarg skips an alignment (with the multi-memory flag, a memory index)
// and an offset (64 bits for memory64).
func (p *parser) memarg() {
	if align := p.u32(); align&0x40 != 0 {
		p.u32()
	}
	p.uleb(64)
}

func (p *parser) limits() {
	flags := p.byte()
	if flags > 7 {
		p.fail("unknown limits flags 0x%02x", flags)
		return
	}
	p.uleb(64)
	if flags&1 != 0 {
		p.uleb(64)
	}
}

func scan(wasm []byte, l Limits) (Stats, error) {
	var st Stats
	p := &parser{b: wasm}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		p.fail("not a WebAssembly module")
		return st, p.err
	}
	p.off = 8
	codeFuncs := 0 // code entries seen, for function indices
	for p.err == nil && p.left() > 0 {
		id := p.byte()
		size := p.u32()
		if p.err == nil && int64(size) > int64(p.left()) {
			p.fail("section %d of %d bytes, %d left", id, size, p.left())
		}
		if p.err != nil {
			break
		}
		sec := &parser{b: wasm[:p.off+int(size)], off: p.off}
		p.off += int(size)
		var err error
		switch id {
		case 2:
			err = imports(sec, &st)
		case 3:
			n := sec.count()
			if sec.err == nil && int(n) > l.Functions {
				return st, &LimitError{Cap: "Functions", Function: -1, Value: uint64(n), Limit: uint64(l.Functions)}
			}
			st.Functions = max(st.Functions, int(n))
			err = sec.err
		case 10:
			err = code(sec, &st, &codeFuncs, l)
		}
		if err != nil {
			return st, err
		}
	}
	return st, p.err
}

// imports counts the imported functions, which come first in the
// function index space.
func imports(p *parser, st *Stats) error {
	for n := p.count(); n > 0 && p.err == nil; n-- {
		p.skip(int(p.u32())) // module
		p.skip(int(p.u32())) // name
		switch kind := p.byte(); kind {
		case 0: // function: type index
			p.u32()
			st.ImportedFunctions++
		case 1: // table: reference type, limits
			p.valType()
			p.limits()
		case 2: // memory
			p.limits()
		case 3: // global: value type, mutability
			p.valType()
			p.byte()
		case 4: // tag: attribute, type index
			p.byte()
			p.u32()
		default:
			p.fail("unknown import kind %d", kind)
		}
	}
	return p.err
}

// code walks a code section. Figures add up over sections, so a module
// with two code sections (which a compiler refuses) counts both.
func code(p *parser, st *Stats, codeFuncs *int, l Limits) error {
	st.CodeBytes += len(p.b) - p.off
	if st.CodeBytes > l.CodeBytes {
		return &LimitError{Cap: "CodeBytes", Function: -1, Value: uint64(st.CodeBytes), Limit: uint64(l.CodeBytes)}
	}
	n := p.count()
	first := st.ImportedFunctions + *codeFuncs
	*codeFuncs += int(n)
	if p.err == nil && *codeFuncs > l.Functions {
		return &LimitError{Cap: "Functions", Function: -1, Value: uint64(*codeFuncs), Limit: uint64(l.Functions)}
	}
	st.Functions = max(st.Functions, *codeFuncs)
	for i := 0; i < int(n) && p.err == nil; i++ {
		idx := first + i
		bodySize := p.u32()
		if p.err == nil && int64(bodySize) > int64(p.left()) {
			p.fail("function %d: body of %d bytes, %d left", idx, bodySize, p.left())
		}
		if p.err != nil {
			break
		}
		if int(bodySize) > l.FunctionBytes {
			return &LimitError{Cap: "FunctionBytes", Function: idx, Value: uint64(bodySize), Limit: uint64(l.FunctionBytes)}
		}
		st.MaxFunctionBytes = max(st.MaxFunctionBytes, int(bodySize))
		body := &parser{b: p.b[:p.off+int(bodySize)], off: p.off}
		p.off += int(bodySize)
		if err := function(body, idx, st, l); err != nil {
			return err
		}
	}
	if p.err == nil && p.left() != 0 {
		p.fail("%d bytes after the last function", p.left())
	}
	return p.err
}

// function walks one body: its locals, then every instruction.
func function(p *parser, idx int, st *Stats, l Limits) error {
	var locals uint64
	for n := p.count(); n > 0 && p.err == nil; n-- {
		// Each entry adds at most 2^32-1, and the sum is checked after
		// each, so it never gets near overflowing 64 bits.
		locals += p.uleb(32)
		p.valType()
		if locals > uint64(l.FunctionLocals) {
			return &LimitError{Cap: "FunctionLocals", Function: idx, Value: locals, Limit: uint64(l.FunctionLocals)}
		}
	}
	if p.err != nil {
		return p.err
	}
	st.MaxFunctionLocals = max(st.MaxFunctionLocals, locals)
	st.TotalLocals += locals
	if st.TotalLocals > uint64(l.TotalLocals) {
		return &LimitError{Cap: "TotalLocals", Function: idx, Value: st.TotalLocals, Limit: uint64(l.TotalLocals)}
	}
	depth := 0
	for p.err == nil {
		if p.left() == 0 {
			p.fail("function %d: body ends without its final end", idx)
			break
		}
		op := p.byte()
		switch op {
		case 0x02, 0x03, 0x04, 0x06: // block, loop, if, try
			p.blockType()
			depth++
		case 0x1f: // try_table: block type, catch clauses
			p.blockType()
			for n := p.count(); n > 0 && p.err == nil; n-- {
				switch kind := p.byte(); kind {
				case 0, 1: // catch, catch_ref: tag, label
					p.u32()
					p.u32()
				case 2, 3: // catch_all, catch_all_ref: label
					p.u32()
				default:
					p.fail("unknown catch kind %d", kind)
				}
			}
			depth++
		case 0x0b: // end
			if depth == 0 {
				if p.left() != 0 {
					p.fail("function %d: %d bytes after its final end", idx, p.left())
				}
				return p.err
			}
			depth--
		case 0x18: // delegate: a label; ends a try
			p.u32()
			if depth == 0 {
				p.fail("function %d: delegate outside a try", idx)
			}
			depth--
		case 0x0e: // br_table: labels, default label
			n := p.count()
			targets := uint64(n) + 1
			if p.err != nil {
				break
			}
			if targets > uint64(l.BrTableTargets) {
				return &LimitError{Cap: "BrTableTargets", Function: idx, Value: targets, Limit: uint64(l.BrTableTargets)}
			}
			st.MaxBrTableTargets = max(st.MaxBrTableTargets, targets)
			st.TotalBrTableTargets += targets
			if st.TotalBrTableTargets > uint64(l.TotalBrTableTargets) {
				return &LimitError{Cap: "TotalBrTableTargets", Function: idx, Value: st.TotalBrTableTargets, Limit: uint64(l.TotalBrTableTargets)}
			}
			for range targets {
				p.u32()
			}
		default:
			p.immediates(op)
		}
		if depth > l.Depth {
			return &LimitError{Cap: "Depth", Function: idx, Value: uint64(depth), Limit: uint64(l.Depth)}
		}
		st.MaxDepth = max(st.MaxDepth, depth)
	}
	return p.err
}

// immediates skips the immediates of every instruction but the ones
// function handles (nesting and br_table). An opcode it does not know is
// an error: skipping it would lose track of the instructions after it.
func (p *parser) immediates(op byte) {
	switch {
	case op <= 0x01, // unreachable, nop
		op == 0x05,             // else
		op == 0x0a,             // throw_ref
		op == 0x0f,             // return
		op == 0x19,             // catch_all
		op == 0x1a, op == 0x1b, // drop, select
		op >= 0x45 && op <= 0xc4, // numeric, sign extension
		op == 0xd1,               // ref.is_null
		op == 0xd3, op == 0xd4:   // ref.eq, ref.as_non_null
	case op == 0x07, op == 0x08, op == 0x09, // catch, throw: tag; rethrow: label
		op == 0x0c, op == 0x0d, // br, br_if
		op == 0x10, op == 0x12, // call, return_call
		op == 0x14, op == 0x15, // call_ref, return_call_ref: type
		op >= 0x20 && op <= 0x26, // local.*, global.*, table.get/set
		op == 0x3f, op == 0x40,   // memory.size, memory.grow: memory
		op == 0xd2,             // ref.func
		op == 0xd5, op == 0xd6: // br_on_null, br_on_non_null
		p.u32()
	case op == 0x11, op == 0x13: // call_indirect, return_call_indirect: type, table
		p.u32()
		p.u32()
	case op == 0x1c: // select t*
		for n := p.count(); n > 0 && p.err == nil; n-- {
			p.valType()
		}
	case op >= 0x28 && op <= 0x3e: // loads and stores
		p.memarg()
	case op == 0x41:
		p.sleb(32)
	case op == 0x42:
		p.sleb(64)
	case op == 0x43:
		p.skip(4)
	case op == 0x44:
		p.skip(8)
	case op == 0xd0: // ref.null: heap type
		p.sleb(33)
	case op == 0xfc:
		p.prefixFC()
	case op == 0xfd:
		p.prefixFD()
	case op == 0xfe:
		p.prefixFE()
	default:
		p.off--
		p.fail("unknown opcode 0x%02x", op)
	}
}

// prefixFC: saturating truncation, bulk memory and table instructions.
func (p *parser) prefixFC() {
	sub := p.u32()
	switch {
	case sub <= 7: // trunc_sat
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		p.u32()
		p.u32()
	case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
		p.u32()
	default:
		p.fail("unknown instruction 0xfc %d", sub)
	}
}

// prefixFD: SIMD, relaxed SIMD included.
func (p *parser) prefixFD() {
	sub := p.u32()
	switch {
	case sub <= 11, sub == 92, sub == 93: // loads, store, load*_zero
		p.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		p.skip(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		p.byte()
	case sub >= 84 && sub <= 91: // load*_lane, store*_lane
		p.memarg()
		p.byte()
	case sub <= 0x113: // the rest take no immediates
	default:
		p.fail("unknown instruction 0xfd %d", sub)
	}
}

// prefixFE: threads (atomics).
func (p *parser) prefixFE() {
	sub := p.u32()
	switch {
	case sub <= 2, sub >= 0x10 && sub <= 0x4e: // notify, wait, loads, stores, rmw
		p.memarg()
	case sub == 3: // atomic.fence
		p.byte()
	default:
		p.fail("unknown instruction 0xfe %d", sub)
	}
}
