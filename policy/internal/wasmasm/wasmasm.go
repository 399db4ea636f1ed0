// Package wasmasm assembles small WebAssembly binary modules by hand. The
// policy tests and docs need modules written the way the WAT in
// policy/ABI.md reads, and wazero cannot compile WAT, so each WAT module
// has a Go twin built with this package; the tests check the twin behaves
// as the WAT says.
package wasmasm

// Value types.
const (
	I32 byte = 0x7f
	I64 byte = 0x7e
)

// Opcodes used by the test modules.
const (
	OpUnreachable = 0x00
	OpBlock       = 0x02
	OpLoop        = 0x03
	OpIf          = 0x04
	OpElse        = 0x05
	OpEnd         = 0x0b
	OpBr          = 0x0c
	OpBrIf        = 0x0d
	OpReturn      = 0x0f
	OpCall        = 0x10
	OpDrop        = 0x1a
	OpLocalGet    = 0x20
	OpLocalSet    = 0x21
	OpLocalTee    = 0x22
	OpI32Load     = 0x28
	OpI32Load8U   = 0x2d
	OpI32Load16U  = 0x2f
	OpMemoryGrow  = 0x40
	OpI32Const    = 0x41
	OpI64Const    = 0x42
	OpI32Eqz      = 0x45
	OpI32Eq       = 0x46
	OpI32Ne       = 0x47
	OpI32GtU      = 0x4b
	OpI32Add      = 0x6a
	OpI32And      = 0x71
	BlockVoid     = 0x40
)

// FuncType is a function signature.
type FuncType struct {
	Params, Results []byte
}

// Import is an imported function.
type Import struct {
	Module, Name string
	Type         FuncType
}

// Func is a defined function; Body is its code including the final end.
type Func struct {
	Export string // export name, or "" for none
	Type   FuncType
	Locals []byte // one value type per local
	Body   []byte
}

// Data is an active data segment in memory 0.
type Data struct {
	Offset uint32
	Bytes  []byte
}

// Module is a module to assemble.
type Module struct {
	Imports      []Import
	Funcs        []Func
	NoMemory     bool
	MemoryMin    uint32
	MemoryMax    uint32 // 0: no maximum
	MemoryExport string // "" for no export
	Data         []Data
	// Tables are funcref tables with these minimum sizes.
	Tables []uint32
	// Custom is appended as raw extra sections, e.g. to pad a module.
	Custom []byte
}

// U32 is unsigned LEB128.
func U32(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// S64 is signed LEB128.
func S64(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// Ops concatenates instruction bytes.
func Ops(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// Op is a bare opcode with optional immediate bytes.
func Op(op byte, imm ...byte) []byte { return append([]byte{op}, imm...) }

// I32Const is i32.const v.
func I32Const(v int32) []byte { return append([]byte{OpI32Const}, S64(int64(v))...) }

// I64Const is i64.const v.
func I64Const(v int64) []byte { return append([]byte{OpI64Const}, S64(v)...) }

// LocalGet is local.get i.
func LocalGet(i uint32) []byte { return append([]byte{OpLocalGet}, U32(i)...) }

// LocalSet is local.set i.
func LocalSet(i uint32) []byte { return append([]byte{OpLocalSet}, U32(i)...) }

// Load is a memory load op with alignment a and offset o.
func Load(op byte, align, offset uint32) []byte {
	return Ops([]byte{op}, U32(align), U32(offset))
}

// Packed returns the i64 a ftpp_check or ftpp_subscriptions returns for a
// buffer at ptr of n bytes.
func Packed(ptr, n uint32) int64 { return int64(uint64(ptr)<<32 | uint64(n)) }

func vec(items [][]byte) []byte {
	b := U32(uint32(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func name(s string) []byte { return append(U32(uint32(len(s))), s...) }

func section(id byte, body []byte) []byte {
	return Ops([]byte{id}, U32(uint32(len(body))), body)
}

func encType(t FuncType) []byte {
	b := []byte{0x60}
	b = append(b, U32(uint32(len(t.Params)))...)
	b = append(b, t.Params...)
	b = append(b, U32(uint32(len(t.Results)))...)
	return append(b, t.Results...)
}

// Bytes assembles the module.
func (m *Module) Bytes() []byte {
	var types [][]byte
	typeIndex := func(t FuncType) uint32 {
		e := encType(t)
		for i, have := range types {
			if string(have) == string(e) {
				return uint32(i)
			}
		}
		types = append(types, e)
		return uint32(len(types) - 1)
	}
	var imports, funcs, code, exports [][]byte
	for _, im := range m.Imports {
		imports = append(imports, Ops(name(im.Module), name(im.Name), []byte{0x00}, U32(typeIndex(im.Type))))
	}
	for i, f := range m.Funcs {
		funcs = append(funcs, U32(typeIndex(f.Type)))
		var locals [][]byte
		for _, l := range f.Locals {
			locals = append(locals, []byte{1, l})
		}
		body := Ops(vec(locals), f.Body)
		code = append(code, Ops(U32(uint32(len(body))), body))
		if f.Export != "" {
			exports = append(exports, Ops(name(f.Export), []byte{0x00}, U32(uint32(len(m.Imports)+i))))
		}
	}
	if m.MemoryExport != "" && !m.NoMemory {
		exports = append(exports, Ops(name(m.MemoryExport), []byte{0x02}, U32(0)))
	}
	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	out = append(out, section(1, vec(types))...)
	if len(imports) > 0 {
		out = append(out, section(2, vec(imports))...)
	}
	out = append(out, section(3, vec(funcs))...)
	if len(m.Tables) > 0 {
		var tables [][]byte
		for _, min := range m.Tables {
			tables = append(tables, Ops([]byte{0x70, 0x00}, U32(min)))
		}
		out = append(out, section(4, vec(tables))...)
	}
	if !m.NoMemory {
		var lim []byte
		if m.MemoryMax != 0 {
			lim = Ops([]byte{0x01}, U32(m.MemoryMin), U32(m.MemoryMax))
		} else {
			lim = Ops([]byte{0x00}, U32(m.MemoryMin))
		}
		out = append(out, section(5, vec([][]byte{lim}))...)
	}
	out = append(out, section(7, vec(exports))...)
	out = append(out, section(10, vec(code))...)
	if len(m.Data) > 0 {
		var data [][]byte
		for _, d := range m.Data {
			data = append(data, Ops([]byte{0x00}, I32Const(int32(d.Offset)), []byte{OpEnd}, U32(uint32(len(d.Bytes))), d.Bytes))
		}
		out = append(out, section(11, vec(data))...)
	}
	return append(out, m.Custom...)
}

// CustomSection returns a custom section named n holding payload, e.g. to
// pad a module to a given size.
func CustomSection(n string, payload []byte) []byte {
	return section(0, Ops(name(n), payload))
}
