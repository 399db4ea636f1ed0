package tenancy

import (
	"crypto/tls"
	"crypto/x509"
	"slices"
	"time"
)

// TenantView is what an admin may see of a tenant: no password hashes,
// no token digests, no storage credentials.
type TenantView struct {
	ID        string
	Hostnames []string
	// Certificates are the tenant's own certificates by hostname, with
	// the time each stops being valid.
	Certificates []CertView
	Disabled     bool
	Backend      string
	ReadOnly     bool
	// QuotaBytes and QuotaFiles are the quota (0: none); UsedBytes and
	// UsedFiles the use counted so far, Counting whether a count runs.
	QuotaBytes, QuotaFiles int64
	UsedBytes, UsedFiles   int64
	Counting               bool
	Users                  []UserView
}

// CertView is one certificate's name and validity.
type CertView struct {
	Hostname string
	NotAfter time.Time
}

// UserView is what an admin may see of a user.
type UserView struct {
	Name        string
	Home        string
	Disabled    bool
	TLSRequired bool
	// Networks are the user's allowed CIDRs; none: any.
	Networks []string
}

// TenantIDs returns the ids of the running configuration's tenants,
// sorted.
func (d *Driver) TenantIDs() []string {
	st := d.state.Load()
	ids := make([]string, 0, len(st.tenants))
	for id := range st.tenants {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Describe returns what an admin may see of tenant, or false when no
// such tenant is configured.
func (d *Driver) Describe(id string) (TenantView, bool) {
	st := d.state.Load()
	t, ok := st.tenants[id]
	if !ok {
		return TenantView{}, false
	}
	c := t.cfg
	v := TenantView{ID: c.ID, Hostnames: slices.Clone(c.Hostnames), Disabled: c.Disabled, Backend: c.Storage.Backend,
		ReadOnly: c.Storage.ReadOnly, QuotaBytes: c.QuotaBytes, QuotaFiles: c.QuotaFiles}
	if v.Backend == "" {
		v.Backend = BackendOS
	}
	if t.storage != nil && t.storage.usage != nil {
		v.UsedBytes, v.UsedFiles = t.storage.usage.snapshot()
		select {
		case <-t.storage.usage.done():
		default:
			v.Counting = true
		}
	}
	for _, cc := range c.Certificates {
		v.Certificates = append(v.Certificates, CertView{Hostname: cc.Hostname, NotAfter: notAfter(st.hostTLS[cc.Hostname])})
	}
	for _, u := range c.Users {
		uv := UserView{Name: u.Name, Home: u.Home, Disabled: u.Disabled, TLSRequired: u.TLSRequired}
		for _, p := range u.AllowedCIDRs {
			uv.Networks = append(uv.Networks, p.String())
		}
		v.Users = append(v.Users, uv)
	}
	return v, true
}

// ServerCertificateExpiry is when the server's default certificate stops
// being valid; zero without TLS.
func (d *Driver) ServerCertificateExpiry() time.Time { return notAfter(d.state.Load().tls) }

// notAfter is the end of the validity of tc's first certificate.
func notAfter(tc *tls.Config) time.Time {
	if tc == nil || len(tc.Certificates) == 0 || len(tc.Certificates[0].Certificate) == 0 {
		return time.Time{}
	}
	if leaf := tc.Certificates[0].Leaf; leaf != nil {
		return leaf.NotAfter
	}
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil {
		return time.Time{}
	}
	return leaf.NotAfter
}
