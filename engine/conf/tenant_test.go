package conf

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidTenantID: the ids of the examples, the tenancy tests and the
// policy store pass; path tricks, hidden files, empty, too long and
// non-ASCII ids do not.
func TestValidTenantID(t *testing.T) {
	for _, ok := range []string{"a", "acme", "globex", "default", "acme-1.b_c", "ACME", "-x", "_x", "1", strings.Repeat("x", 64), strings.Repeat("x", 63)} {
		if err := ValidTenantID(ok); err != nil {
			t.Errorf("ValidTenantID(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".hidden", "a/b", `a\b`, "a b", "a@b", "a%2fb", "a\x00", strings.Repeat("x", 65), "é", "a\n"} {
		err := ValidTenantID(bad)
		if err == nil {
			t.Errorf("ValidTenantID(%q) = nil, want an error", bad)
		} else if !strings.Contains(err.Error(), "want 1 to 64 letters") {
			t.Errorf("ValidTenantID(%q) = %v, want the grammar in the message", bad, err)
		}
	}
	if err := ValidTenantID(strings.Repeat("y", 1<<20)); len(err.Error()) > 200 {
		t.Errorf("error for a 1 MiB id is %d bytes, want it bounded", len(err.Error()))
	}
}

// FuzzValidTenantID: an id that passes is one clean path element and
// one URL path segment that needs no escaping.
func FuzzValidTenantID(f *testing.F) {
	for _, s := range []string{"acme", "..", ".x", "a/b", "-", "x%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidTenantID(id) != nil {
			return
		}
		if filepath.Base(id) != id || filepath.Clean(id) != id || id == "." || id == ".." || strings.HasPrefix(id, ".") {
			t.Fatalf("%q passes but is no plain file name", id)
		}
		if url.PathEscape(id) != id {
			t.Fatalf("%q passes but needs escaping in a URL path", id)
		}
		if len(id) == 0 || len(id) > MaxTenantIDLen {
			t.Fatalf("%q passes with length %d", id, len(id))
		}
	})
}
