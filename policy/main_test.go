package policy

import (
	"os"
	"testing"
)

// TestMain lets this test binary serve as the compile child of runtimes
// with ChildCompile.
func TestMain(m *testing.M) {
	if CompileChildMain() {
		return
	}
	os.Exit(m.Run())
}
