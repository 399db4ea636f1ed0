//go:build wasip1

// Command gohostile is a Go policy that misbehaves on purpose: DELE
// panics, STOR allocates until memory runs out, RETR loops forever, other
// verbs are allowed.
package main

import "github.com/ftpgate/ftpgate/policy/kit"

var sink [][]byte

func init() {
	kit.Handle(func(r *kit.Request) kit.Decision {
		switch r.Verb {
		case "DELE":
			var s []int
			_ = s[len(r.Path)] // index out of range: a Go panic
		case "STOR":
			for {
				sink = append(sink, make([]byte, 4<<20))
			}
		case "RETR":
			n := 0
			for {
				n++
			}
		}
		return kit.Allow()
	})
}

func main() {}
