package admin

import (
	"net"
	"net/http"
)

// LimitListener wraps ln so that it serves at most max connections at
// once, shedding the connection quiet for longest when full (as Server
// does; see limitListener). The http.Server serving it must set
// ConnState to TrackConn, which tells it which connections are quiet.
// For the gateway's other HTTP planes (telemetry).
func LimitListener(ln net.Listener, max int) net.Listener { return newLimitListener(ln, max) }

// TrackConn is the http.Server.ConnState hook that LimitListener needs.
func TrackConn(c net.Conn, st http.ConnState) { trackConn(c, st) }
