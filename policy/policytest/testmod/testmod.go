// Package testmod builds the hand-assembled policy modules the tests use:
// the documented WAT example (examples/policies/wat/example.wat) and the
// hostile modules of the failure tests. Each function's comment gives the
// WAT it stands for.
package testmod

import (
	"encoding/binary"

	w "github.com/ftpgate/ftpgate/policy/internal/wasmasm"
)

var (
	voidFn  = w.FuncType{}
	allocFn = w.FuncType{Params: []byte{w.I32}, Results: []byte{w.I32}}
	checkFn = w.FuncType{Params: []byte{w.I32, w.I32}, Results: []byte{w.I64}}
	subsFn  = w.FuncType{Results: []byte{w.I64}}
	initFn  = w.FuncType{Params: []byte{w.I32, w.I32}, Results: []byte{w.I32}}
)

// Addresses inside the one page of the example modules.
const (
	denyAt   = 256
	capAt    = 512
	subsAt   = 768
	bufferAt = 1024
	bufMax   = 32768
)

// DenyMessage is the message of the example's DELE denial.
const DenyMessage = "deletion is disabled by policy"

// ExampleCap is the upload cap the example puts on STOR.
const ExampleCap = 1 << 20

func field(tag byte, v []byte) []byte {
	return append([]byte{tag, byte(len(v)), byte(len(v) >> 8)}, v...)
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// DenyResponse is a deny response with code and message.
func DenyResponse(code uint16, msg string) []byte {
	return w.Ops(field(1, []byte{1}), field(2, []byte{byte(code), byte(code >> 8)}), field(3, []byte(msg)))
}

// alloc is
//
//	(func (export "ftpp_alloc") (param $size i32) (result i32)
//	  (if (result i32) (i32.gt_u (local.get $size) (i32.const 32768))
//	    (then (i32.const 0)) (else (i32.const 1024))))
func alloc() w.Func {
	return w.Func{Export: "ftpp_alloc", Type: allocFn, Body: w.Ops(
		w.LocalGet(0), w.I32Const(bufMax), w.Op(w.OpI32GtU),
		w.Op(w.OpIf, w.I32), w.I32Const(0), w.Op(w.OpElse), w.I32Const(bufferAt), w.Op(w.OpEnd),
		w.Op(w.OpEnd))}
}

func marker(name string) w.Func { return w.Func{Export: name, Type: voidFn, Body: w.Op(w.OpEnd)} }

func returns(v int64) []byte { return w.Ops(w.I64Const(v), w.Op(w.OpEnd)) }

// Policy assembles a one-page module with the marker, ftpp_alloc, the given
// ftpp_check body (locals 2 and 3 are spare i32s), a ftpp_subscriptions
// returning subs when subs is not "", and data at 256 (deny) and 512 (cap).
func Policy(checkBody []byte, subs string, data ...w.Data) *w.Module {
	m := &w.Module{MemoryMin: 1, MemoryExport: "memory", Data: data}
	m.Funcs = append(m.Funcs, marker("ftpp_abi_v1"), alloc(),
		w.Func{Export: "ftpp_check", Type: checkFn, Locals: []byte{w.I32, w.I32}, Body: checkBody})
	if subs != "" {
		m.Funcs = append(m.Funcs, w.Func{Export: "ftpp_subscriptions", Type: subsFn, Body: returns(w.Packed(subsAt, uint32(len(subs))))})
		m.Data = append(m.Data, w.Data{Offset: subsAt, Bytes: []byte(subs)})
	}
	return m
}

// Example is the WAT example of policy/ABI.md: it denies DELE with 550,
// caps STOR at 1 MiB and allows the rest; it subscribes to DELE and STOR.
func Example() []byte {
	deny := DenyResponse(550, DenyMessage)
	capResp := field(5, u64(ExampleCap))
	body := w.Ops(
		// (local.set $end (i32.add (local.get $p) (local.get $n)))
		w.LocalGet(0), w.LocalGet(1), w.Op(w.OpI32Add), w.LocalSet(2),
		w.Op(w.OpBlock, w.BlockVoid), w.Op(w.OpLoop, w.BlockVoid),
		// (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 3)) (local.get $end)))
		w.LocalGet(0), w.I32Const(3), w.Op(w.OpI32Add), w.LocalGet(2), w.Op(w.OpI32GtU), w.Op(w.OpBrIf, 1),
		// (local.set $len (i32.load16_u offset=1 (local.get $p)))
		w.LocalGet(0), w.Load(w.OpI32Load16U, 0, 1), w.LocalSet(3),
		// (if (i32.and (i32.eq (i32.load8_u (local.get $p)) (i32.const 1)) (i32.eq (local.get $len) (i32.const 4)))
		w.LocalGet(0), w.Load(w.OpI32Load8U, 0, 0), w.I32Const(1), w.Op(w.OpI32Eq),
		w.LocalGet(3), w.I32Const(4), w.Op(w.OpI32Eq), w.Op(w.OpI32And),
		w.Op(w.OpIf, w.BlockVoid),
		w.LocalGet(0), w.Load(w.OpI32Load, 0, 3), w.I32Const(0x454C4544), w.Op(w.OpI32Eq),
		w.Op(w.OpIf, w.BlockVoid), w.I64Const(w.Packed(denyAt, uint32(len(deny)))), w.Op(w.OpReturn), w.Op(w.OpEnd),
		w.LocalGet(0), w.Load(w.OpI32Load, 0, 3), w.I32Const(0x524F5453), w.Op(w.OpI32Eq),
		w.Op(w.OpIf, w.BlockVoid), w.I64Const(w.Packed(capAt, uint32(len(capResp)))), w.Op(w.OpReturn), w.Op(w.OpEnd),
		w.I64Const(0), w.Op(w.OpReturn),
		w.Op(w.OpEnd),
		// (local.set $p (i32.add (i32.add (local.get $p) (i32.const 3)) (local.get $len)))
		w.LocalGet(0), w.I32Const(3), w.Op(w.OpI32Add), w.LocalGet(3), w.Op(w.OpI32Add), w.LocalSet(0),
		w.Op(w.OpBr, 0),
		w.Op(w.OpEnd), w.Op(w.OpEnd),
		w.I64Const(0), w.Op(w.OpEnd))
	return Policy(body, "DELE,STOR", w.Data{Offset: denyAt, Bytes: deny}, w.Data{Offset: capAt, Bytes: capResp}).Bytes()
}

// Respond is a module whose ftpp_check always returns resp (at 256).
func Respond(resp []byte, subs string) []byte {
	return Policy(returns(w.Packed(denyAt, uint32(len(resp)))), subs, w.Data{Offset: denyAt, Bytes: resp}).Bytes()
}

// ReturnPacked is a module whose ftpp_check returns v as is.
func ReturnPacked(v int64) []byte { return Policy(returns(v), "").Bytes() }

// Loop never returns from ftpp_check: (loop $l (br $l)).
func Loop() []byte {
	return Policy(w.Ops(w.Op(w.OpLoop, w.BlockVoid), w.Op(w.OpBr, 0), w.Op(w.OpEnd), returns(0)), "").Bytes()
}

// Trap executes unreachable in ftpp_check.
func Trap() []byte { return Policy(w.Ops(w.Op(w.OpUnreachable), w.Op(w.OpEnd)), "").Bytes() }

// MemoryBomb grows memory 16 pages at a time until memory.grow fails, then
// traps, the way a guest runtime does when it runs out of memory.
func MemoryBomb() []byte {
	return Policy(w.Ops(
		w.Op(w.OpLoop, w.BlockVoid),
		w.I32Const(16), w.Op(w.OpMemoryGrow, 0), w.I32Const(-1), w.Op(w.OpI32Eq),
		w.Op(w.OpIf, w.BlockVoid), w.Op(w.OpUnreachable), w.Op(w.OpEnd),
		w.Op(w.OpBr, 0), w.Op(w.OpEnd), returns(0)), "").Bytes()
}

// Grow grows memory by pages on each call and allows.
func Grow(pages int32) []byte {
	return Policy(w.Ops(w.I32Const(pages), w.Op(w.OpMemoryGrow, 0), w.Op(w.OpDrop), returns(0)), "").Bytes()
}

// Variant says what to break in Broken.
type Variant int

// Variants of Broken.
const (
	NoCheck         Variant = iota // ftpp_check missing
	NoMarker                       // ftpp_abi_v1 missing
	MarkerV2                       // only ftpp_abi_v2
	NoMemory                       // no exported memory
	ForbiddenImport                // imports env.system
	BadSubs                        // ftpp_subscriptions returns "st*r"
	InitFails                      // ftpp_init returns 1
	LogImport                      // imports ftpp_host.log and logs each call
	WrongCheckType                 // ftpp_check (i32) -> i32
	LogThenLoop                    // logs "looping" through ftpp_host.log, then never returns
	HugeTable                      // a table of 2^27 elements: 1 GiB per instance
	SmallTable                     // a table of 100 elements, which is fine
)

// Broken returns a module that breaks the ABI as v says.
func Broken(v Variant) []byte {
	m := Policy(returns(0), "")
	switch v {
	case NoCheck:
		m.Funcs = m.Funcs[:2]
	case NoMarker:
		m.Funcs[0].Export = ""
	case MarkerV2:
		m.Funcs[0].Export = "ftpp_abi_v2"
	case NoMemory:
		m.MemoryExport = ""
	case ForbiddenImport:
		m.Imports = []w.Import{{Module: "env", Name: "system", Type: allocFn}}
	case BadSubs:
		m = Policy(returns(0), "st*r")
	case InitFails:
		m.Funcs = append(m.Funcs, w.Func{Export: "ftpp_init", Type: initFn, Body: w.Ops(w.I32Const(1), w.Op(w.OpEnd))})
	case LogImport:
		m.Imports = []w.Import{{Module: "ftpp_host", Name: "log", Type: w.FuncType{Params: []byte{w.I32, w.I32, w.I32}}}}
		m.Data = append(m.Data, w.Data{Offset: denyAt, Bytes: []byte("hello\r\nfrom wasm")})
		// (call $log (i32.const 1) (i32.const 256) (i32.const 16)) (i64.const 0)
		m.Funcs[2].Body = w.Ops(w.I32Const(1), w.I32Const(denyAt), w.I32Const(16), w.Op(w.OpCall, 0), returns(0))
	case LogThenLoop:
		m.Imports = []w.Import{{Module: "ftpp_host", Name: "log", Type: w.FuncType{Params: []byte{w.I32, w.I32, w.I32}}}}
		m.Data = append(m.Data, w.Data{Offset: denyAt, Bytes: []byte("looping")})
		m.Funcs[2].Body = w.Ops(w.I32Const(1), w.I32Const(denyAt), w.I32Const(7), w.Op(w.OpCall, 0),
			w.Op(w.OpLoop, w.BlockVoid), w.Op(w.OpBr, 0), w.Op(w.OpEnd), returns(0))
	case HugeTable:
		m.Tables = []uint32{1 << 27}
	case SmallTable:
		m.Tables = []uint32{100}
	case WrongCheckType:
		m.Funcs[2] = w.Func{Export: "ftpp_check", Type: allocFn, Body: w.Ops(w.I32Const(0), w.Op(w.OpEnd))}
	}
	return m.Bytes()
}

// Padded returns the example padded with a custom section to at least n bytes.
func Padded(n int) []byte {
	b := Example()
	if n > len(b) {
		b = append(b, w.CustomSection("pad", make([]byte, n-len(b)))...)
	}
	return b
}

// PackedForTest is Packed, for tests outside this package.
func PackedForTest(ptr, n uint32) int64 { return w.Packed(ptr, n) }

// ReturnsForTest is a ftpp_check body returning v.
func ReturnsForTest(v int64) []byte { return returns(v) }
