package engine

import (
	"sync"

	"github.com/spf13/afero"
)

// maxUnwrapDepth bounds how many Unwrap calls an extension lookup makes, so
// that a wrapper that returns itself, or a chain of wrappers built in a
// loop, ends the search instead of the session.
const maxUnwrapDepth = 16

// The lookups below implement the package documentation's "Driver
// wrappers" section.

// mainDriverExt returns the first of d and the drivers it wraps that
// implements T.
func mainDriverExt[T any](d MainDriver) (T, bool) {
	for range maxUnwrapDepth {
		if d == nil {
			break
		}
		if t, ok := d.(T); ok {
			return t, true
		}
		u, ok := d.(interface{ Unwrap() MainDriver })
		if !ok {
			break
		}
		d = u.Unwrap()
	}
	var zero T
	return zero, false
}

// clientDriverExt returns the first of fs and the filesystems it wraps
// that implements T.
func clientDriverExt[T any](fs afero.Fs) (T, bool) {
	for range maxUnwrapDepth {
		if fs == nil {
			break
		}
		if t, ok := fs.(T); ok {
			return t, true
		}
		switch u := fs.(type) {
		case interface{ Unwrap() afero.Fs }:
			fs = u.Unwrap()
		case interface{ Unwrap() ClientDriver }:
			fs = u.Unwrap()
		default:
			var zero T
			return zero, false
		}
	}
	var zero T
	return zero, false
}

// fileExt returns the first of f and the handles it wraps that implements
// T.
func fileExt[T any](f any) (T, bool) {
	for range maxUnwrapDepth {
		if f == nil {
			break
		}
		if t, ok := f.(T); ok {
			return t, true
		}
		switch u := f.(type) {
		case interface{ Unwrap() afero.File }:
			f = u.Unwrap()
		case interface{ Unwrap() FileTransfer }:
			f = u.Unwrap()
		default:
			var zero T
			return zero, false
		}
	}
	var zero T
	return zero, false
}

// mainExtensions are the MainDriver's extensions, looked up once per
// Server: the Driver does not change once the Server serves.
type mainExtensions struct {
	host     MainDriverExtensionHost
	passive  MainDriverExtensionPassiveWrapper
	verifier MainDriverExtensionTLSVerifier
}

// mainExtCache holds a Server's mainExtensions.
type mainExtCache struct {
	once sync.Once
	ext  mainExtensions
}

// mainExt returns the Driver's extensions.
func (srv *Server) mainExt() *mainExtensions {
	srv.exts.once.Do(func() {
		e := &srv.exts.ext
		e.host, _ = mainDriverExt[MainDriverExtensionHost](srv.Driver)
		e.passive, _ = mainDriverExt[MainDriverExtensionPassiveWrapper](srv.Driver)
		// Not through Unwrap: a login beside AuthUser (doc.go).
		e.verifier, _ = srv.Driver.(MainDriverExtensionTLSVerifier)
	})
	return &srv.exts.ext
}
