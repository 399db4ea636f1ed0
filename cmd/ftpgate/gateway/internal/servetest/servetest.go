// Package servetest runs a server for the length of a test. The gateway
// package's tests and those of its subpackages (the console's) share it,
// so that each starts and stops a gateway the same way.
package servetest

import (
	"context"
	"testing"
	"time"
)

// ShutdownTimeout bounds a server's shutdown at the end of a test: an
// upper bound for a loaded machine, never a wait.
const ShutdownTimeout = 10 * time.Second

// Serve calls run in the background until the test ends, then calls
// shutdown (within ShutdownTimeout) and waits for run to return; an error
// from either fails the test.
func Serve(t testing.TB, run, shutdown func(context.Context) error) {
	t.Helper()
	ran := make(chan error, 1)
	go func() { ran <- run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
