package policy

import (
	"bytes"
	"os"
	"testing"

	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// TestShippedExampleWasm keeps examples/policies/wat/example.wasm equal to
// the module assembled from the WAT; FTPGATE_UPDATE=1 rewrites it.
func TestShippedExampleWasm(t *testing.T) {
	t.Parallel()
	const file = "../examples/policies/wat/example.wasm"
	want := testmod.Example()
	if os.Getenv("FTPGATE_UPDATE") == "1" {
		if err := os.WriteFile(file, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale; run FTPGATE_UPDATE=1 go test -run TestShippedExampleWasm ./policy/", file)
	}
}
