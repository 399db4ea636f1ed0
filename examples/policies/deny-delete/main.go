//go:build wasip1

// Command deny-delete is a policy that refuses every deletion: DELE, RMD
// and XRMD get 550.
package main

import "github.com/ftpgate/ftpgate/policy/kit"

func init() {
	kit.Subscribe("DELE", "RMD", "XRMD")
	kit.Handle(func(r *kit.Request) kit.Decision {
		return kit.Deny(550, "Deleting is disabled for this tenant.")
	})
}

func main() {}
