package tenancy

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// TestResumptionIntoARemovedFileGivesItsBytesBack: an APPE (and a
// REST+STOR) writing in place while another session removes its file
// (DELE), replaces it (STOR) or renames another file over it (RNTO) gets
// 451, and the bytes it wrote after the removal, which no name holds,
// are not left counted against the quota: before, a user could fill the
// tenant's quota with bytes that were on no disk, and no DELE gave them
// back until a recount.
func TestResumptionIntoARemovedFileGivesItsBytesBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, verb string
		remove     func(t *testing.T, f *fixture)
	}{
		{"DELE", "APPE", func(t *testing.T, f *fixture) {
			if err := f.mustLogin("alice", "acme-alice").Delete("f.bin"); err != nil {
				t.Fatal(err)
			}
		}},
		{"STOR", "APPE", func(t *testing.T, f *fixture) {
			if err := f.mustLogin("alice", "acme-alice").Stor("f.bin", bytes.NewReader(pattern(3000, 9))); err != nil {
				t.Fatal(err)
			}
		}},
		{"RNTO", "REST", func(t *testing.T, f *fixture) {
			c := f.mustLogin("alice", "acme-alice")
			if err := c.Stor("other.bin", bytes.NewReader(pattern(2000, 8))); err != nil {
				t.Fatal(err)
			}
			if err := c.Rename("other.bin", "f.bin"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, map[string]string{
				"server.toml":       serverTOML("default = \"acme\"\n"),
				"tenants/acme.toml": quotaTenant(t, ""),
			})
			target := filepath.Join(f.dir, "data", "acme", "alice", "f.bin")
			a := f.mustLogin("alice", "acme-alice")
			if err := a.Stor("f.bin", bytes.NewReader(pattern(5000, 1))); err != nil {
				t.Fatal(err)
			}
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				if tc.verb == "APPE" {
					done <- a.Append("f.bin", pr)
				} else {
					done <- a.StorFrom("f.bin", pr, 5000)
				}
			}()
			if _, err := pw.Write(pattern(10_000, 2)); err != nil {
				t.Fatal(err)
			}
			// The resumption has its file open once its first bytes are
			// there.
			enginetest.Eventually(t, "the resumption's first bytes", func() bool {
				fi, err := os.Stat(target)
				return err == nil && fi.Size() >= 15_000
			})
			tc.remove(t, f)
			if _, err := pw.Write(pattern(20_000, 3)); err != nil {
				t.Fatal(err)
			}
			_ = pw.Close()
			if err := <-done; err == nil || !strings.Contains(err.Error(), "451") {
				t.Fatalf("%s after its file was removed: %v, want 451", tc.verb, err)
			}
			checkUsageMatchesDisk(t, f, tc.verb+" into a removed file", true)
		})
	}
}
