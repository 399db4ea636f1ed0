//go:build wasip1

// Command deny-delete is a policy that refuses every deletion with 550:
// DELE, RMD and XRMD, SITE RMDIR, and COMB, which deletes its parts once
// it has joined them. It rules on removing names; replacing a file's
// content (STOR over it, RNTO onto it) is a change that read-only-paths
// covers.
package main

import "github.com/ftpgate/ftpgate/policy/kit"

func init() {
	kit.Subscribe(kit.DeleteVerbs()...)
	kit.Handle(func(r *kit.Request) kit.Decision {
		if r.Deletes() {
			return kit.Deny(550, "Deleting is disabled for this tenant.")
		}
		return kit.Allow()
	})
}

func main() {}
