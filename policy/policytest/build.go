// Package policytest builds Go policies for tests: each package is built
// once per test binary (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared), at
// most two builds at a time, because a Go wasm build takes seconds.
package policytest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Builder builds and caches Go policies. Its zero value is ready; tests
// share one in a package variable, since the point is to build once per
// test binary.
type Builder struct {
	mu     sync.Mutex
	builds map[string]*build
	slots  chan struct{}
}

type build struct {
	once sync.Once
	wasm []byte
	err  error
	out  string
}

// Build returns the wasm of the Go package in dir, building it on first
// use. It fails tb when the build fails.
func (b *Builder) Build(tb testing.TB, dir string) []byte {
	tb.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	b.mu.Lock()
	if b.builds == nil {
		b.builds = map[string]*build{}
		b.slots = make(chan struct{}, 2)
	}
	bd := b.builds[abs]
	if bd == nil {
		bd = &build{}
		b.builds[abs] = bd
	}
	slots := b.slots
	b.mu.Unlock()
	bd.once.Do(func() {
		slots <- struct{}{}
		defer func() { <-slots }()
		tmp, err := os.MkdirTemp("", "ftpgate-policy-build-")
		if err != nil {
			bd.err = err
			return
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, "policy.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
		cmd.Dir = abs
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if bd.err = cmd.Run(); bd.err != nil {
			bd.out = log.String()
			return
		}
		bd.wasm, bd.err = os.ReadFile(out)
	})
	if bd.err != nil {
		tb.Fatalf("building %s: %v\n%s", dir, bd.err, bd.out)
	}
	return bd.wasm
}
