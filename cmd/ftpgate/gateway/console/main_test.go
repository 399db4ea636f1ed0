package console_test

import (
	"os"
	"testing"

	"github.com/ftpgate/ftpgate/policy"
)

// TestMain lets this test binary serve as the policy compile child that
// the gateway's runtime (policy.Config.ChildCompile) starts.
func TestMain(m *testing.M) {
	if policy.CompileChildMain() {
		return
	}
	os.Exit(m.Run())
}
