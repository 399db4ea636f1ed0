//go:build wasip1

package kit

// The functions here are called by the host through their wasm exports,
// which linters cannot see; hence the lint:ignore lines.

import "unsafe"

// The buffer the host writes requests and the config into.
//
//lint:ignore U1000 used by the exports
var requestBuf []byte

//lint:ignore U1000 called by the host
//go:wasmexport ftpp_abi_v1
func abiV1() {}

//lint:ignore U1000 called by the host
//go:wasmexport ftpp_alloc
func alloc(size uint32) uint32 {
	if int(size) > cap(requestBuf) {
		requestBuf = make([]byte, size)
	}
	requestBuf = requestBuf[:cap(requestBuf)]
	if len(requestBuf) == 0 {
		requestBuf = make([]byte, 1)
	}
	return uint32(uintptr(unsafe.Pointer(&requestBuf[0])))
}

//lint:ignore U1000 used by the exports
func packed(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

//lint:ignore U1000 called by the host
//go:wasmexport ftpp_check
func check(ptr, n uint32) uint64 {
	if len(requestBuf) == 0 || uint32(uintptr(unsafe.Pointer(&requestBuf[0]))) != ptr || int(n) > len(requestBuf) {
		return 0xFFFFFFFF // a response outside memory: the host fails closed
	}
	return packed(Check(requestBuf[:n]))
}

//lint:ignore U1000 called by the host
//go:wasmexport ftpp_init
func initialize(ptr, n uint32) uint32 {
	var cfg []byte
	if n > 0 && int(n) <= len(requestBuf) {
		cfg = append([]byte(nil), requestBuf[:n]...)
	}
	if RunInit(cfg) != nil {
		return 1
	}
	return 0
}

//lint:ignore U1000 called by the host
//go:wasmexport ftpp_subscriptions
func subs() uint64 { return packed(subscriptions) }
