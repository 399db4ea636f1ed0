//go:build wasip1

// Command gominimal is the smallest Go policy: it allows everything
// without decoding the request, to measure a Go guest's fixed cost.
package main

import "unsafe"

var buf = make([]byte, 4096)

//go:wasmexport ftpp_abi_v1
func abiV1() {}

//go:wasmexport ftpp_alloc
func alloc(n uint32) uint32 { return uint32(uintptr(unsafe.Pointer(&buf[0]))) }

//go:wasmexport ftpp_check
func check(p, n uint32) uint64 { return 0 }

func main() {}
