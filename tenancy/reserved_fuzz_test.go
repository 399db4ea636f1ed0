package tenancy

import (
	"strings"
	"testing"
)

// FuzzCheckReserved: checkReserved refuses exactly the paths with an
// element that starts with the reserved prefix in any ASCII case, and
// every temporary upload name is reserved.
func FuzzCheckReserved(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/.ftpgate-upload-0011", "/x/.FTPGATE-/y", ".ftpgate", "/.ftpgatex", "/a/.Ftpgate-Upload-", "//.ftpgate-//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		want := false
		for _, elem := range strings.Split(p, "/") {
			lower := []byte(elem)
			for i, c := range lower {
				if 'A' <= c && c <= 'Z' {
					lower[i] = c + 'a' - 'A'
				}
			}
			if strings.HasPrefix(string(lower), reservedPrefix) {
				want = true
			}
			if isTempName(elem) && !isReserved(elem) {
				t.Fatalf("temporary name %q is not reserved", elem)
			}
		}
		err := checkReserved(p)
		if (err != nil) != want {
			t.Fatalf("checkReserved(%q) = %v, want refused: %v", p, err, want)
		}
	})
}
