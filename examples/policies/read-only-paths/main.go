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

func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
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
