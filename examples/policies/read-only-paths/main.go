//go:build wasip1

// Command read-only-paths is a policy that keeps /archive and /published
// of the tenant's storage read-only: no command may write, delete, rename,
// change the time or mode of anything under them (or them), while listing
// and downloading stay allowed. It judges the paths a command reaches in
// the tenant (kit.Request.Reached: home joined, links resolved), every
// path of the command (RNTO's source, COMB's parts, both ends of SITE
// SYMLINK), and refuses links to or above a read-only directory, which
// would give it a second name.
package main

import (
	"strings"

	"github.com/ftpgate/ftpgate/policy/kit"
)

var readOnly = []string{"/archive", "/published"}

// under reports whether p is dir or below it, without allocating: garbage
// in a guest means GC work inside someone's 50 ms.
func under(p, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, dir) && (len(p) == len(dir) || p[len(dir)] == '/')
}

func init() {
	kit.Subscribe(kit.ChangeVerbs()...)
	kit.Handle(func(r *kit.Request) kit.Decision {
		if !r.Changes() {
			return kit.Allow()
		}
		for _, p := range r.Reached() {
			for _, dir := range readOnly {
				if under(p, dir) {
					return kit.Deny(550, dir+" is read-only.")
				}
			}
		}
		if r.Op == "SITE SYMLINK" {
			for _, target := range [...]string{r.Path, r.TenantPath} {
				for _, dir := range readOnly {
					if target != "" && (under(target, dir) || under(dir, target)) {
						return kit.Deny(550, "Links to "+dir+" or above it are not allowed.")
					}
				}
			}
		}
		return kit.Allow()
	})
}

func main() {}
