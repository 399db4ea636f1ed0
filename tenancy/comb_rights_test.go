package tenancy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
)

// A user who may write files but not delete them asks COMB to join parts
// it would have to remove afterwards: COMB is refused before it writes,
// so no target appears and the parts stay as they were.
func TestCOMBWithoutDeleteRightWritesNothing(t *testing.T) {
	erin := fmt.Sprintf(`
[[users]]
name = "erin"
password = %q
  [[users.permissions]]
  prefix = "/"
  allow = ["list", "download", "upload", "overwrite", "append"]
  [[users.permissions]]
  prefix = "/scratch"
  allow = ["all"]
`, testHash(t, "erin-pw"))
	f := newFixtureWith(t, map[string]string{
		"server.toml":             serverTOML(""),
		"tenants/acme.toml":       acmeTOML(t, erin),
		"data/acme/p1.txt":        "part one ",
		"data/acme/p2.txt":        "part two",
		"data/acme/scratch/a.txt": "a",
		"data/acme/keep.txt":      "kept",
	}, func(st *engine.Settings) { st.EnableCOMB = true })
	r := f.dialRaw()
	r.cmd("USER erin@acme")
	if code, msg := r.cmd("PASS erin-pw"); code != 230 {
		t.Fatalf("login: %d %s", code, msg)
	}
	data := filepath.Join(f.dir, "data/acme")
	for _, c := range []struct{ line, target string }{
		{`COMB "/t.txt" "/p1.txt" "/p2.txt"`, "t.txt"},
		// The first part may go, the second may not: still nothing.
		{`COMB "/scratch/t.txt" "/scratch/a.txt" "/p2.txt"`, "scratch/t.txt"},
		// An existing target keeps its bytes.
		{`COMB "/keep.txt" "/p1.txt"`, ""},
	} {
		if code, msg := r.cmd("%s", c.line); code != 550 {
			t.Errorf("%s: %d %s, want 550", c.line, code, msg)
		}
		if c.target != "" {
			if _, err := os.Stat(filepath.Join(data, c.target)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: the target exists after the refusal (err %v)", c.line, err)
			}
		}
	}
	for name, want := range map[string]string{"p1.txt": "part one ", "p2.txt": "part two", "scratch/a.txt": "a", "keep.txt": "kept"} {
		if b, err := os.ReadFile(filepath.Join(data, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	// With the right, COMB works for the same user.
	if code, msg := r.cmd(`COMB "/scratch/j.txt" "/scratch/a.txt"`); code != 200 {
		t.Errorf("COMB in /scratch: %d %s, want 200", code, msg)
	}
}
