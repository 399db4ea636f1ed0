package ratelimit

import (
	"sync/atomic"
	"time"
)

// rule names a limit that refused, delayed or noted something; the names
// appear in logs as rule=... and match Stats' fields.
type rule int

const (
	ruleConnRate          rule = iota // new connections per second per IP
	ruleConnPerIP                     // connections at once per IP
	ruleMaxConns                      // connections at once in total
	ruleBanned                        // a connection or login from a banned IP
	ruleLoginAttempts                 // a login while the IP's failures in flight reach the threshold
	ruleUserLoginAttempts             // a login while the account's failures and logins in flight reach the threshold
	ruleUserSessions                  // logged-in sessions at once per user
	ruleTenantSessions                // logged-in sessions at once per tenant
	ruleCommandRate                   // commands per second, session or tenant
	ruleLoginFailures                 // a failed login (not a refusal)
	ruleBan                           // an IP got banned (not a refusal)
	ruleCommandDelayed                // a command was slowed (not a refusal)
	ruleTransferWait                  // a transfer waited for its rate (not a refusal)
	ruleShared                        // the shared state was unreachable and its feature fails closed
	numRules
)

var ruleNames = [numRules]string{
	"conn_rate", "conn_per_ip", "max_conns", "banned", "login_attempts", "user_login_attempts", "user_sessions",
	"tenant_sessions", "command_rate", "login_failure", "ban", "command_delayed",
	"transfer_wait", "shared_unavailable",
}

func (r rule) String() string { return ruleNames[r] }

// counters are the limiter's event counts, read by Stats.
type counters struct {
	n          [numRules]atomic.Uint64
	waitedNano atomic.Int64 // time transfers spent waiting for tokens
}

func (c *counters) add(r rule) { c.n[r].Add(1) }

// Stats is a snapshot of what the limiter did and holds, for an exporter
// to publish. Counters only grow; the last group are gauges.
type Stats struct {
	// Connections refused at admission, by rule.
	RefusedConnRate  uint64 // conn_rate: too many new connections per second from one IP
	RefusedConnPerIP uint64 // conn_per_ip: too many connections at once from one IP
	RefusedMaxConns  uint64 // max_conns: too many connections at once in total
	RefusedBanned    uint64 // banned: connections and logins from a banned IP

	// Logins refused before the password was checked because the
	// address's logins in flight could already reach the ban threshold.
	RefusedLoginAttempts uint64 // login_attempts
	// Logins refused before the password was checked because the
	// account's failures with its logins in flight reach the threshold.
	RefusedUserLoginAttempts uint64 // user_login_attempts

	// Logins refused after the password was right, by rule.
	RefusedUserSessions   uint64 // user_sessions
	RefusedTenantSessions uint64 // tenant_sessions

	// Commands refused (and sessions closed) over their rate, and
	// commands slowed down to it.
	RefusedCommands uint64 // command_rate
	DelayedCommands uint64 // command_delayed

	LoginFailures uint64 // failed logins seen
	Bans          uint64 // bans issued

	// Logins, connections and commands refused because Limiter.Shared
	// could not be asked and its feature fails closed.
	RefusedShared uint64 // shared_unavailable

	TransferWaits    uint64        // chunks of transfers that had to wait for their rate
	TransferWaitTime time.Duration // total time transfers waited

	// Gauges.
	Connections    int64 // connections admitted and still open
	TrackedIPs     int   // addresses with state kept
	TrackedUsers   int   // users with state kept
	TrackedTenants int   // tenants with state kept
	BanList        int   // entries on the ban list (bans and remembered offences)
}

// Stats returns a snapshot of the counters and gauges.
func (l *Limiter) Stats() Stats {
	l.setup()
	c := &l.counters
	return Stats{
		RefusedConnRate:          c.n[ruleConnRate].Load(),
		RefusedConnPerIP:         c.n[ruleConnPerIP].Load(),
		RefusedMaxConns:          c.n[ruleMaxConns].Load(),
		RefusedBanned:            c.n[ruleBanned].Load(),
		RefusedLoginAttempts:     c.n[ruleLoginAttempts].Load(),
		RefusedUserLoginAttempts: c.n[ruleUserLoginAttempts].Load(),
		RefusedUserSessions:      c.n[ruleUserSessions].Load(),
		RefusedTenantSessions:    c.n[ruleTenantSessions].Load(),
		RefusedCommands:          c.n[ruleCommandRate].Load(),
		DelayedCommands:          c.n[ruleCommandDelayed].Load(),
		LoginFailures:            c.n[ruleLoginFailures].Load(),
		Bans:                     c.n[ruleBan].Load(),
		RefusedShared:            c.n[ruleShared].Load(),
		TransferWaits:            c.n[ruleTransferWait].Load(),
		TransferWaitTime:         time.Duration(c.waitedNano.Load()),
		Connections:              l.conns.Load(),
		TrackedIPs:               l.ips.len(),
		TrackedUsers:             l.users.len(),
		TrackedTenants:           l.tenants.len(),
		BanList:                  l.bans.len(),
	}
}
