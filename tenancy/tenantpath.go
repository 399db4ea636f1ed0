package tenancy

import (
	"errors"
	"path"

	"github.com/ftpgate/ftpgate/engine"
)

// errNotLoggedIn answers TenantPath for a session with no user.
var errNotLoggedIn = errors.New("tenancy: the session has not logged in")

// setGuard records the filesystem of the session's login.
func (s *session) setGuard(g *guardFs) {
	s.mu.Lock()
	s.guard = g
	s.mu.Unlock()
}

// TenantPath returns the path inside the tenant's storage that the
// user-visible path name (absolute, or relative to the working
// directory) reaches for the session cc: the user's home joined with name
// once every symbolic link in it is resolved as the session's own
// operations resolve it (inside the home, at most 40 links). A link at
// the end of name is followed, since that is what opening, listing or
// changing the mode of name reaches; if following it fails (a loop, a
// link leading out of the home), the link's own path is returned, which
// is what an operation on the link itself (DELE, RNFR) reaches. It is for
// plugins, such as policies, that judge paths as rights do: the path is
// resolved again by the operation, so a plugin sees what rights see
// except for a link a user swaps in between (see RATIONALE.md). An error
// before login, after REIN, or for a session of another driver.
func (d *Driver) TenantPath(cc engine.ClientContext, name string) (string, error) {
	s, ok := cc.Extra().(*session)
	if !ok {
		return "", errNotLoggedIn
	}
	s.mu.Lock()
	g, loggedIn := s.guard, s.loggedIn
	s.mu.Unlock()
	if !loggedIn || g == nil || !cc.LoggedIn() {
		return "", errNotLoggedIn
	}
	if !path.IsAbs(name) {
		name = cc.Path() + "/" + name
	}
	p, err := g.resolveOnly(name, true)
	if err != nil {
		if p, err = g.resolveOnly(name, false); err != nil {
			return "", err
		}
	}
	return path.Join(g.home, p), nil
}

// resolveOnly is resolve without the rights check on failure: plugins
// are told why a path cannot be resolved.
func (g *guardFs) resolveOnly(name string, follow bool) (string, error) {
	r, ok := g.inner.(pathResolver)
	if !ok {
		return cleanAbs(name), nil
	}
	return r.resolve(cleanAbs(name), follow)
}
