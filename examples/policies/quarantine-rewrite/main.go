//go:build wasip1

// Command quarantine-rewrite is a policy that stores every file aimed at
// /incoming of the tenant's storage in /quarantine instead, for a scanner
// to release; the client sees its command succeed. It judges the path a
// command's file reaches in the tenant (kit.Request.Target: links
// resolved) for STOR, APPE and STOU (STOU without a name stores into its
// directory), RNTO (a file renamed into /incoming) and COMB (parts joined
// into /incoming), and refuses SITE SYMLINK in /incoming, which would put
// a name there whose content no scanner saw. A rewrite is a session path,
// so the quarantine must lie inside the user's home; otherwise the
// command is refused.
package main

import (
	"strings"

	"github.com/ftpgate/ftpgate/policy/kit"
)

const incoming, quarantine = "/incoming", "/quarantine"

func init() {
	kit.Subscribe("STOR", "STOU", "APPE", "RNTO", "COMB", "SITE")
	kit.Handle(func(r *kit.Request) kit.Decision {
		name, reached := r.Target()
		judged := reached
		if judged == "" {
			judged = name // tenant paths unknown: the session path
		}
		rest, ok := strings.CutPrefix(judged, incoming)
		if name == "" || !ok || (rest != "" && rest[0] != '/') {
			return kit.Allow()
		}
		if r.Op == "SITE SYMLINK" {
			return kit.Deny(553, "Links cannot be made in /incoming.")
		}
		to := quarantine + rest
		if reached != "" {
			var inHome bool
			if to, inHome = r.SessionPath(to); !inHome {
				return kit.Deny(553, "Files for /incoming are quarantined, and /quarantine is outside your home.")
			}
		}
		return kit.Rewrite(to)
	})
}

func main() {}
