package main

import (
	"os"
	"testing"

	"github.com/ftpgate/ftpgate/policy"
)

// TestMain lets this test binary serve as the policy compile child that
// `serve` (run in process by the tests) starts.
func TestMain(m *testing.M) {
	if policy.CompileChildMain() {
		return
	}
	os.Exit(m.Run())
}
