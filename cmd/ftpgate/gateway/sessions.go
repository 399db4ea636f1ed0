package gateway

import (
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
)

// installSessions makes the registry of the server's live sessions (its
// result hook sums each session's bytes), for the admin API.
func (g *Gateway) installSessions(env Env) {
	g.sessions = sessions.Install(g.srv, sessions.Env{TenantOf: env.TenantOf, Identity: env.Identity, TenantPath: env.TenantPath})
}

// sessionRoutes are the admin API's session and ban endpoints.
func (g *Gateway) sessionRoutes() []admin.Route {
	return sessions.Routes(g.sessions, g.limiter, g.log)
}

// Sessions is the registry of the gateway's live sessions.
func (g *Gateway) Sessions() sessions.Registry { return g.sessions }
