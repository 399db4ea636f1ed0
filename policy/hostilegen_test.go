package policy

import (
	w "github.com/ftpgate/ftpgate/policy/internal/wasmasm"
)

// Hostile module shapes of issue 11, built here until the wasmgen
// generators are available: each is a valid module whose compilation
// costs far more than its size. None is a policy (no ABI exports): the
// compile is what they attack.

// rawModule assembles a module of n functions of type () -> () whose
// code entries are all body (locals declaration included).
func rawModule(n int, body []byte) []byte {
	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	out = append(out, sect(1, []byte{1, 0x60, 0, 0})...)
	funcs := w.U32(uint32(n))
	for range n {
		funcs = append(funcs, 0)
	}
	out = append(out, sect(3, funcs)...)
	code := w.U32(uint32(n))
	entry := append(w.U32(uint32(len(body))), body...)
	for range n {
		code = append(code, entry...)
	}
	return append(out, sect(10, code)...)
}

func sect(id byte, body []byte) []byte {
	return append(append([]byte{id}, w.U32(uint32(len(body)))...), body...)
}

// localsBomb is funcs functions of locals i32 locals each, which use them
// all (a local.get of the last one), declared in one run.
func localsBomb(funcs int, locals uint32) []byte {
	body := w.Ops([]byte{1}, w.U32(locals), []byte{w.I32}, w.LocalGet(locals-1), w.Op(w.OpDrop), w.Op(w.OpEnd))
	return rawModule(funcs, body)
}

// brTableBomb is one function with a br_table of targets entries.
func brTableBomb(targets int) []byte {
	body := []byte{0, w.OpBlock, w.BlockVoid, w.OpI32Const, 0, 0x0e}
	body = append(body, w.U32(uint32(targets))...)
	for range targets + 1 {
		body = append(body, 0)
	}
	body = append(body, w.OpEnd, w.OpEnd)
	return rawModule(1, body)
}

// nestingBomb is one function of depth nested blocks.
func nestingBomb(depth int) []byte {
	body := []byte{0}
	for range depth {
		body = append(body, w.OpBlock, w.BlockVoid)
	}
	for range depth + 1 {
		body = append(body, w.OpEnd)
	}
	return rawModule(1, body)
}
