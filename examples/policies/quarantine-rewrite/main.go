//go:build wasip1

// Command quarantine-rewrite is a policy that stores every upload aimed at
// /incoming in /quarantine instead, for a scanner to release; the client
// sees its upload succeed.
package main

import (
	"strings"

	"github.com/ftpgate/ftpgate/policy/kit"
)

func init() {
	kit.Subscribe("STOR", "STOU", "APPE")
	kit.Handle(func(r *kit.Request) kit.Decision {
		if rest, ok := strings.CutPrefix(r.Path, "/incoming/"); ok {
			return kit.Rewrite("/quarantine/" + rest)
		}
		return kit.Allow()
	})
}

func main() {}
