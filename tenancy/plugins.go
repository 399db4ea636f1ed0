package tenancy

import (
	"crypto/sha256"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// HasTenant reports whether id names a tenant of the running
// configuration, so that an admin API refuses to act for a tenant that
// does not exist.
func (d *Driver) HasTenant(id string) bool {
	_, ok := d.state.Load().tenants[id]
	return ok
}

// TenantTokenMatches reports whether token is the admin token of tenant
// (admin_token_sha256 in its file), comparing the hashes in constant
// time. A tenant without a token, an unknown tenant and an empty token
// never match, and a tenant's token matches no other tenant. The
// comparison runs in every case, so the time taken does not tell an
// unknown tenant or one without a token from a wrong token.
func (d *Driver) TenantTokenMatches(tenant, token string) bool {
	t, ok := d.state.Load().tenants[tenant]
	want := noTokenDigest[:]
	if ok && len(t.cfg.AdminTokenSHA256) == len(noTokenDigest) {
		want = t.cfg.AdminTokenSHA256
	} else {
		ok = false
	}
	return conf.TokenMatches(want, token) && ok
}

// noTokenDigest stands in for the digest of a tenant that is unknown or
// has no admin token; its match is discarded.
var noTokenDigest [sha256.Size]byte

// TenantOf returns the id of the tenant a session belongs to: the one it
// logged in to, else the one its HOST command or TLS server name selected,
// else "". Plugins that rule on commands before login (policies on USER)
// use it; a login suffix (user@tenant) only counts once the login
// succeeds.
func (d *Driver) TenantOf(cc engine.ClientContext) string {
	if t, _ := Identity(cc); t != "" {
		return t
	}
	st := d.state.Load()
	for _, name := range []string{cc.HostName(), cc.TLSServerName()} {
		if name == "" {
			continue
		}
		if t := st.lookup(name); t != nil {
			return t.cfg.ID
		}
	}
	return ""
}
