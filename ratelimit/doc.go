// Package ratelimit keeps one client from hurting the others on an
// engine.Server: admission limits on new connections, a ban for addresses
// that fail to log in, command rates, and bandwidth shared by all the
// sessions of a user, a tenant or an address, and caps on the passive
// ports an address, a user or a tenant holds. It is built on
// golang.org/x/time/rate and plugs into the engine the way the other
// plugins do: an AdmissionHook (Limiter.Admit), a CommandHook
// (Limiter.CheckCommand), a TransferHook (Limiter.LimitTransfer), a
// PassiveHook (Limiter.HoldPassivePort) and a LoginHook
// (Limiter.CheckLogin); Limiter.Install adds them all, and is the one way
// to install it. Its state per connection is an engine.SessionKey value,
// gone with the session.
//
// Limits key on the client's IP address as ClientContext.RemoteAddr gives
// it (behind a load balancer, the PROXY protocol makes that the real
// client), and on the tenant and user an IdentityFunc names once a session
// has logged in.
//
// The state kept per address and per user lives in bounded tables: a
// flood of distinct addresses evicts the least recently seen idle state
// instead of growing memory, while the state of live connections and
// sessions is never evicted. About 300 bytes per tracked key, so the
// default bounds (65536 addresses, 65536 users, 65536 tenants, 65536
// bans) cost at most some 80 MB, and far less in practice.
//
// Behind a load balancer, Limiter.Shared (ratelimit/redisstate: Redis)
// makes bans, failure scores, session caps and the shared rates hold over
// every instance; nil keeps them in this process (see Shared).
//
// Every refusal is a 421 reply with a reason (the engine then closes the
// connection), a log line with rule=..., and a count in Stats; a passive
// port over its cap is the exception: 425 with the reason, the session
// goes on, and the count is in PassiveStats.
package ratelimit
