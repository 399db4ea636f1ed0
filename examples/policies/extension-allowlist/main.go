//go:build wasip1

// Command extension-allowlist is a policy that lets files be stored or
// named only with an allowed extension; others get 553. It judges every
// name a command stores bytes or a name into (kit.Request.Target): STOR
// and APPE, the new name of RNTO, the target of COMB, and the link of SITE
// SYMLINK, both as the session names it and as the path it reaches in the
// tenant (a link can make the two differ). STOU is refused: the server may
// add a suffix to the name it was given, so the policy cannot know the
// extension.
package main

import (
	"path"
	"strings"

	"github.com/ftpgate/ftpgate/policy/kit"
)

var allowed = map[string]bool{".txt": true, ".csv": true, ".pdf": true, ".jpg": true, ".png": true, ".zip": true}

// check judges one name; bare allows a name without an extension.
func check(name string, bare bool) (kit.Decision, bool) {
	ext := strings.ToLower(path.Ext(name))
	switch {
	case allowed[ext], ext == "" && bare:
		return kit.Allow(), true
	case ext == "":
		return kit.Deny(553, "File names need an extension here."), false
	}
	return kit.Deny(553, "File type "+ext+" is not allowed here."), false
}

func init() {
	kit.Subscribe("STOR", "STOU", "APPE", "RNTO", "COMB", "SITE")
	kit.Handle(func(r *kit.Request) kit.Decision {
		if r.Op == "STOU" {
			return kit.Deny(553, "STOU picks its own file name; use STOR with an allowed extension.")
		}
		name, reached := r.Target()
		if name == "" {
			return kit.Allow() // not a command that names a file
		}
		// A link may have no extension (a link to a directory), but
		// neither its name nor what it points to may have a refused one:
		// a link "a.txt" to "b.exe" would let STOR a.txt create b.exe.
		link := r.Op == "SITE SYMLINK"
		for _, n := range [...]string{name, reached} {
			if n == "" {
				continue
			}
			if d, ok := check(n, link); !ok {
				return d
			}
		}
		if link {
			for _, n := range [...]string{r.Path, r.TenantPath} {
				if n == "" {
					continue
				}
				if d, ok := check(n, true); !ok {
					return d
				}
			}
		}
		return kit.Allow()
	})
}

func main() {}
