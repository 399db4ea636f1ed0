package policy

import (
	"errors"
	"fmt"

	"github.com/ftpgate/ftpgate/policy/internal/wasmcheck"
)

// CodeLimits caps what compiling a module may cost: functions, locals,
// code bytes, nesting depth and br_table targets (Config.Code). Zero
// fields take the defaults documented on wasmcheck.Limits: 50000
// functions, 4096 locals per function and 1048576 in all, 8 MiB of code
// and 256 KiB per function, nesting 1024 deep, 4096 targets per br_table
// and 524288 in all. The figures behind them are in bench/README.md.
type CodeLimits = wasmcheck.Limits

// Limits checked before a module reaches wazero's decoder.
const (
	// maxTableElements bounds the elements all of a module's tables
	// declare. wazero accepts 2^27 (8 bytes each), so a few bytes of
	// module could make every instance allocate 1 GiB; a Go guest's table
	// holds a few thousand functions.
	maxTableElements = 1 << 18
)

// Caps on what every instance of a module costs the host, and what the
// decoded module costs while it is installed. The compile child bounds a
// compile's time and memory, but instantiation runs in this process (the
// probe, then each pooled instance), and wazero gives every instance a
// slot per global and per element of a passive element segment, a data
// instance per data segment and a function instance per import, and keeps
// the decoded module (a constant expression per global and per element,
// an entry per export) for as long as it is installed. Without these
// caps 5 MB of globals cost 110 MiB installed and 90 MiB per instance, 4
// MB of element entries 160 MiB and 40 MiB. The Go toolchain's policies
// use a small share of each (see TestSectionFiguresOfGoPolicies).
const (
	// maxTypes bounds the function types, and maxTypeValues their
	// parameters and results in all.
	maxTypes      = 1 << 12
	maxTypeValues = 1 << 15
	// maxImports bounds the imports (the allowed ones are a few dozen
	// WASI functions and ftpp_host.log, each needed once).
	maxImports = 1 << 10
	// maxGlobals bounds the globals, imported ones included.
	maxGlobals = 1 << 12
	// maxExports bounds the exports.
	maxExports = 1 << 12
	// maxElementEntries bounds the entries of all element segments,
	// like maxTableElements the tables they fill.
	maxElementEntries = maxTableElements
	// maxCustomSections bounds the custom sections: with debug
	// information on, wazero keeps each (about 60 bytes for a 3-byte
	// section) for as long as the module is installed.
	maxCustomSections = 1 << 6
	// maxNameSection bounds the "name" section's bytes: wazero decodes
	// it into about 24 bytes per name, 2 bytes each in the module.
	maxNameSection = 1 << 20
	// maxDataSegments bounds the data segments (their bytes are bounded
	// by the module's size and the memory limit); the Go toolchain emits
	// about 31,000.
	maxDataSegments = 1 << 17
)

// sectionFigures counts what checkSections caps beside the code.
type sectionFigures struct {
	// measure counts only and refuses nothing (for tests).
	measure bool

	types, typeValues, imports, globals, exports, elementEntries, dataSegments uint64
	customSections, nameBytes                                                  uint64
}

// over returns the first cap f exceeds, as a message, or "".
func (f *sectionFigures) over() string {
	if f.measure {
		return ""
	}
	for _, c := range []struct {
		what     string
		n, limit uint64
	}{
		{"function types", f.types, maxTypes},
		{"parameters and results in function types", f.typeValues, maxTypeValues},
		{"imports", f.imports, maxImports},
		{"globals", f.globals, maxGlobals},
		{"exports", f.exports, maxExports},
		{"element segment entries", f.elementEntries, maxElementEntries},
		{"data segments", f.dataSegments, maxDataSegments},
		{"custom sections", f.customSections, maxCustomSections},
	} {
		if c.n > c.limit {
			return fmt.Sprintf("module declares more than %d %s", c.limit, c.what)
		}
	}
	if f.nameBytes > maxNameSection {
		return fmt.Sprintf("the name section is %d bytes; the limit is %d", f.nameBytes, maxNameSection)
	}
	return ""
}

// checkSections walks the whole module structure before compilation.
// wazero v1.12.0 allocates vectors by the count a module declares before
// reading their elements (a function section claiming 2^32 entries is a
// 16 GiB make), so every count, length and size is checked here against
// the bytes that remain: a tiny module cannot make the host allocate
// much more than its own size. The walk understands the MVP binary format
// plus the constant expressions compilers emit; anything else is refused
// with its offset. Semantic errors are left to the compiler.
//
// Then wasmcheck walks the code within lim: a module whose locals,
// functions, code size, nesting or br_tables would cost the compiler far
// more than its size is refused, with the cap it exceeds, before wazero
// sees it.
func checkSections(wasm []byte, lim CodeLimits) error {
	if len(wasm) < 8 {
		return invalid("module shorter than its header")
	}
	if _, err := walkSections(wasm, sectionFigures{}); err != nil {
		return err
	}
	if err := wasmcheck.Check(wasm, lim); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// walkSections walks every section of wasm, counting into fig.
func walkSections(wasm []byte, fig sectionFigures) (sectionFigures, error) {
	r := &reader{b: wasm, off: 8}
	for !r.done() {
		id := r.byte()
		size := r.u32()
		body := r.sub(size)
		if r.err != nil {
			break
		}
		if err := checkSection(id, body, &fig); err != nil {
			return fig, invalid("section %d at offset %d: %v", id, body.base, err)
		}
	}
	if r.err != nil {
		return fig, invalid("at offset %d: %v", r.off, r.err)
	}
	return fig, nil
}

func checkSection(id byte, r *reader, fig *sectionFigures) error {
	switch id {
	case 0: // custom: a name, then anything
		fig.customSections++
		if name := r.sub(r.u32()); r.err == nil && string(name.b) == "name" {
			fig.nameBytes += uint64(len(r.b))
		}
		if r.err != nil {
			return r.err
		}
		if msg := fig.over(); msg != "" {
			return errors.New(msg)
		}
		return nil
	case 8, 12: // start, data count
		r.u32()
		return r.end()
	}
	n := r.count()
	var tableElems uint64
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch id {
		case 1: // type
			fig.types++
			if r.byte() != 0x60 {
				return errors.New("only function types are supported")
			}
			for range 2 {
				k := r.count()
				fig.typeValues += uint64(k)
				if fig.typeValues > maxTypeValues {
					break
				}
				for ; k > 0 && r.err == nil; k-- {
					r.valType()
				}
			}
		case 2: // import
			fig.imports++
			r.name()
			r.name()
			switch r.byte() {
			case 0:
				r.u32()
			case 1:
				r.valType()
				tableElems += uint64(r.limits())
			case 2:
				r.limits()
			case 3:
				fig.globals++
				r.valType()
				r.byte()
			case 4:
				r.byte()
				r.u32()
			default:
				return errors.New("unknown import kind")
			}
		case 3: // function
			r.u32()
		case 4: // table
			if r.peek() == 0x40 {
				return errors.New("table initialiser expressions are not supported")
			}
			r.valType()
			tableElems += uint64(r.limits())
		case 5: // memory
			r.limits()
		case 6: // global
			fig.globals++
			r.valType()
			r.byte()
			r.constExpr()
		case 7: // export
			fig.exports++
			r.name()
			r.byte()
			r.u32()
		case 9: // element
			fig.elementEntries += checkElement(r)
		case 10: // code: wasmcheck walks the bodies
			r.sub(r.u32())
		case 11: // data
			fig.dataSegments++
			switch r.u32() {
			case 0:
				r.constExpr()
			case 1:
			case 2:
				r.u32()
				r.constExpr()
			default:
				return errors.New("unknown data segment kind")
			}
			r.sub(r.u32())
		case 13: // tag
			r.byte()
			r.u32()
		default:
			return errors.New("unknown section")
		}
		if tableElems > maxTableElements {
			return fmt.Errorf("tables declare more than %d elements", maxTableElements)
		}
		if msg := fig.over(); msg != "" {
			return errors.New(msg)
		}
	}
	if r.err != nil {
		return r.err
	}
	return r.end()
}

// checkElement walks one element segment and returns its entries.
func checkElement(r *reader) uint64 {
	flags := r.u32()
	if flags > 7 {
		r.fail(errors.New("unknown element segment kind"))
		return 0
	}
	if flags&2 != 0 && flags&1 == 0 { // explicit table index
		r.u32()
	}
	if flags&1 == 0 { // active: an offset
		r.constExpr()
	}
	if flags&3 != 0 { // elemkind or reftype
		if flags&4 != 0 {
			r.valType()
		} else {
			r.byte()
		}
	}
	n := r.count()
	for k := n; k > 0 && r.err == nil; k-- {
		if flags&4 != 0 {
			r.constExpr()
		} else {
			r.u32()
		}
	}
	return uint64(n)
}

// reader reads a module's bytes, remembering the first error.
type reader struct {
	b    []byte
	off  int
	base int // offset of b[0] in the module, for messages
	err  error
}

var errShort = errors.New("unexpected end")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) done() bool { return r.err != nil || r.off >= len(r.b) }

func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		return errors.New("section size mismatch")
	}
	return r.err
}

func (r *reader) peek() byte {
	if r.off >= len(r.b) {
		return 0
	}
	return r.b[r.off]
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail(errShort)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// leb reads a LEB128 of at most max bytes and returns its low 64 bits.
func (r *reader) leb(max int) uint64 {
	var v uint64
	for i := range max {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("LEB128 too long"))
	return 0
}

func (r *reader) u32() uint32 {
	v := r.leb(5)
	if v > 0xFFFFFFFF {
		r.fail(errors.New("integer overflows 32 bits"))
		return 0
	}
	return uint32(v)
}

// count reads a vector length, which cannot exceed the bytes left since
// every element takes at least one.
func (r *reader) count() uint32 {
	n := r.u32()
	if r.err == nil && int64(n) > int64(len(r.b)-r.off) {
		r.fail(fmt.Errorf("vector of %d elements in %d bytes", n, len(r.b)-r.off))
		return 0
	}
	return n
}

// sub returns the next n bytes as their own reader.
func (r *reader) sub(n uint32) *reader {
	if r.err == nil && int64(n) > int64(len(r.b)-r.off) {
		r.fail(fmt.Errorf("size %d exceeds the %d bytes left", n, len(r.b)-r.off))
	}
	if r.err != nil {
		return &reader{err: r.err}
	}
	s := &reader{b: r.b[r.off : r.off+int(n)], base: r.base + r.off}
	r.off += int(n)
	return s
}

func (r *reader) name() { r.sub(r.u32()) }

func (r *reader) valType() {
	if c := r.byte(); c == 0x63 || c == 0x64 { // (ref null? heaptype)
		r.leb(5)
	}
}

func (r *reader) limits() uint32 {
	flags := r.byte()
	if flags > 1 {
		r.fail(errors.New("unsupported limits (shared or 64-bit)"))
		return 0
	}
	min := r.u32()
	if flags == 1 {
		r.u32()
	}
	return min
}

// constExpr skips a constant expression made of the instructions
// compilers emit for offsets and initialisers.
func (r *reader) constExpr() {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0b: // end
			return
		case 0x41: // i32.const
			r.leb(5)
		case 0x42: // i64.const
			r.leb(10)
		case 0x43: // f32.const
			r.off += 4
		case 0x44: // f64.const
			r.off += 8
		case 0x23, 0xd2: // global.get, ref.func
			r.u32()
		case 0xd0: // ref.null
			r.valType()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant arithmetic
		default:
			r.fail(fmt.Errorf("unsupported instruction 0x%02x in a constant expression", op))
		}
		if r.off > len(r.b) {
			r.fail(errShort)
		}
	}
}
