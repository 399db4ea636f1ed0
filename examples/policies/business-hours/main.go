//go:build wasip1

// Command business-hours is a policy that allows changes (uploads,
// deletions, renames, new directories, times and modes, links, COMB; see
// kit.Request.Changes) only Monday to Friday, 08:00 to 18:00 UTC, by the
// request's clock; reading is always allowed.
package main

import (
	"time"

	"github.com/ftpgate/ftpgate/policy/kit"
)

func init() {
	kit.Subscribe(kit.ChangeVerbs()...)
	kit.Handle(func(r *kit.Request) kit.Decision {
		if !r.Changes() {
			return kit.Allow()
		}
		now := r.Now
		if wd := now.Weekday(); wd == time.Saturday || wd == time.Sunday || now.Hour() < 8 || now.Hour() >= 18 {
			return kit.Deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")
		}
		return kit.Allow()
	})
}

func main() {}
