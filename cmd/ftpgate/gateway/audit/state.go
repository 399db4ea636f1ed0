package audit

import (
	"sync"
	"time"
)

// sessionState is what the log keeps of one session, as one of its
// engine.SessionValues: the login name typed, the attempt the login hook
// saw, and, while logged in, the identity and the bytes moved for the
// logout's line.
type sessionState struct {
	mu      sync.Mutex
	login   string // USER's argument, clipped
	attempt string // "password" or "certificate" while the login hook's attempt waits for its reply
	in      bool   // a successful login was reported and its logout not yet
	tenant  string
	user    string
	since   time.Time
	bytes   int64
	// remote and balancer are the session's addresses as events show
	// them, made at its first event (addrs): they do not change.
	addrs            bool
	remote, balancer string
}
