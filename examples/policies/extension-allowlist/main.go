//go:build wasip1

// Command extension-allowlist is a policy that lets files be stored or
// renamed only with an allowed extension; others get 553.
package main

import (
	"path"
	"strings"

	"github.com/ftpgate/ftpgate/policy/kit"
)

var allowed = map[string]bool{".txt": true, ".csv": true, ".pdf": true, ".jpg": true, ".png": true, ".zip": true}

func init() {
	kit.Subscribe("STOR", "STOU", "APPE", "RNTO")
	kit.Handle(func(r *kit.Request) kit.Decision {
		ext := strings.ToLower(path.Ext(r.Path))
		if allowed[ext] {
			return kit.Allow()
		}
		if ext == "" {
			return kit.Deny(553, "File names need an extension here.")
		}
		return kit.Deny(553, "File type "+ext+" is not allowed here.")
	})
}

func main() {}
