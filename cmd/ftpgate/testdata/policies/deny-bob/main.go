//go:build wasip1

// Command deny-bob is a test policy: the user bob may not store, read,
// list or delete anything, however he spelled his login. It annotates
// every decision with the login as typed, so tests can see both names.
package main

import "github.com/ftpgate/ftpgate/policy/kit"

func init() {
	kit.Subscribe("STOR", "RETR", "LIST", "NLST", "MLSD", "DELE")
	kit.Handle(func(r *kit.Request) kit.Decision {
		if r.User == "bob" {
			return kit.Deny(550, "bob may not use this server.").Annotate("login", r.Login)
		}
		return kit.Allow()
	})
}

func main() {}
