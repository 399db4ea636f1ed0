package conf

import (
	"errors"
	"fmt"
)

// MaxTenantIDLen is the longest tenant id ValidTenantID accepts, in bytes.
const MaxTenantIDLen = 64

// ValidTenantID checks the one grammar of a tenant id, whether it comes
// from a tenant file, an admin API path or a policy store's file name: 1
// to MaxTenantIDLen of the ASCII letters, digits, '.', '-' and '_', not
// starting with '.'. Such an id is a safe file name and URL path segment
// as it stands (RATIONALE.md: "One tenant-id grammar"). The error says
// what is expected and quotes id, cut to a bounded length.
func ValidTenantID(id string) error {
	ok := id != "" && len(id) <= MaxTenantIDLen && id[0] != '.'
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
	}
	if ok {
		return nil
	}
	if len(id) > MaxTenantIDLen+16 {
		id = id[:MaxTenantIDLen+16] + "..."
	}
	return fmt.Errorf("%q: %w", id, errTenantID)
}

var errTenantID = errors.New("want 1 to 64 letters, digits, '.', '-' or '_', not starting with '.'")
