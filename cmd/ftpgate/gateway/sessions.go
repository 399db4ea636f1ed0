package gateway

import (
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
)

// installSessions makes the registry of the server's live sessions.
func (g *Gateway) installSessions(env Env) {
	g.sessions = sessions.New(g.srv, sessions.Env{TenantOf: env.TenantOf, Identity: env.Identity, TenantPath: env.TenantPath})
	g.startClusterSessions()
}

// mountSessions mounts the session and ban endpoints on the admin server
// and starts keeping the sessions' byte totals, which only the admin API
// shows: a gateway without one runs no result hook for them.
func (g *Gateway) mountSessions(srv *admin.Server) {
	g.sessions.Install()
	srv.Mount(sessions.Routes(g.sessionRegistry(), g.limiter, g.log)...)
	g.mountCluster(srv)
}

// Sessions is the registry of the gateway's live sessions (with
// [cluster], of the cluster's). Their byte totals count finished
// transfers only while the admin API is served.
func (g *Gateway) Sessions() sessions.Registry { return g.sessionRegistry() }
