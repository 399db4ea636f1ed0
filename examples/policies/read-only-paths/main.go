//go:build wasip1

// Command read-only-paths is a policy that keeps /archive and /published
// read-only: no command may write, delete or rename anything under them
// (or them), while listing and downloading stay allowed.
package main

import (
	"strings"

	"github.com/ftpgate/ftpgate/policy/kit"
)

var readOnly = []string{"/archive", "/published"}

// under reports whether p is dir or below it, without allocating: garbage
// in a guest means GC work inside someone's 50 ms.
func under(p, dir string) bool {
	return strings.HasPrefix(p, dir) && (len(p) == len(dir) || p[len(dir)] == '/')
}

func init() {
	kit.Subscribe("STOR", "STOU", "APPE", "DELE", "RNFR", "RNTO", "MKD", "XMKD", "RMD", "XRMD", "SITE", "MFMT", "COMB")
	kit.Handle(func(r *kit.Request) kit.Decision {
		for _, p := range r.Paths() {
			for _, dir := range readOnly {
				if under(p, dir) {
					return kit.Deny(550, dir+" is read-only.")
				}
			}
		}
		return kit.Allow()
	})
}

func main() {}
