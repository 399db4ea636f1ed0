package tenancy

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/afero"
)

// tenant is a configured tenant with its storage open.
type tenant struct {
	cfg     *TenantConfig
	storage *storage
	users   map[string]*UserConfig
}

// storage is a tenant's open filesystem and usage, kept across reloads as
// long as the tenant's backend and directory stay the same, so that a
// reload neither loses a memory tenant's files nor recounts usage under
// running uploads.
type storage struct {
	backend, dir string
	root         *os.Root // BackendOS only
	fs           afero.Fs // the tenant's whole tree
	usage        *usage
}

// state is one loaded configuration: what a login is checked against. A
// reload builds a new one and swaps it in whole.
type state struct {
	cfg      *Config
	tenants  map[string]*tenant // by id as configured
	byID     map[string]*tenant // by id in ASCII lower case, for logins
	byHost   map[string]*tenant // by lower-case host name
	tls      *tls.Config        // nil: no TLS
	hostTLS  map[string]*tls.Config
	storages []*storage
}

// lookup returns the tenant named by id or host name. Both compare
// without regard to ASCII case (host names are DNS names; ids are matched
// the same way, and no two may differ only in case), a trailing dot is
// ignored, and a name with any byte outside printable ASCII names no
// tenant: Unicode case folding would let "İnitech" or "Kcme" (Kelvin
// sign) stand for "initech" or "kcme", one account under many spellings.
func (s *state) lookup(name string) *tenant {
	key, ok := asciiLower(strings.TrimSuffix(name, "."))
	if !ok {
		return nil
	}
	if t, ok := s.byHost[key]; ok {
		return t
	}
	return s.byID[key]
}

// lookupHost returns the tenant a HOST argument names; an IPv6 literal
// comes in brackets.
func (s *state) lookupHost(host string) *tenant {
	if t := s.lookup(strings.Trim(host, "[]")); t != nil {
		return t
	}
	return s.lookup(host)
}

// asciiLower returns s with ASCII letters in lower case, or false when s
// is empty or holds a byte that is not printable ASCII.
func asciiLower(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return "", false
		case 'A' <= c && c <= 'Z':
			if b == nil {
				b = []byte(s)
			}
			b[i] = c + ('a' - 'A')
		}
	}
	if b == nil {
		return s, true
	}
	return string(b), true
}

// openStorage opens a tenant's storage, or returns old's when it is the
// same.
func openStorage(c StorageConfig, old *storage) (*storage, error) {
	if old != nil && old.backend == c.Backend && old.dir == c.Dir {
		return old, nil
	}
	st := &storage{backend: c.Backend, dir: c.Dir, usage: &usage{}}
	switch c.Backend {
	case BackendMemory:
		st.fs = afero.NewMemMapFs()
		return st, nil
	case BackendOS:
		if err := os.MkdirAll(c.Dir, 0o750); err != nil {
			return nil, err
		}
		root, err := os.OpenRoot(c.Dir)
		if err != nil {
			return nil, err
		}
		st.root, st.fs = root, &rootFs{root: root}
		b, f, err := walkUsage(st.fs)
		if err != nil {
			_ = root.Close()
			return nil, fmt.Errorf("counting usage: %w", err)
		}
		st.usage.bytes, st.usage.files = b, f
		return st, nil
	}
	return nil, fmt.Errorf("unknown storage backend %q", c.Backend)
}

// buildState opens everything cfg names. prev, when not nil, is the state
// being replaced, whose storages are reused where unchanged. defaultCert
// is used when the server file names no certificate.
func buildState(cfg *Config, prev *state, defaultCert *tls.Certificate) (*state, error) {
	s := &state{cfg: cfg, tenants: map[string]*tenant{}, byID: map[string]*tenant{}, byHost: map[string]*tenant{}, hostTLS: map[string]*tls.Config{}}
	cert := defaultCert
	if cfg.Server.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(cfg.Server.TLSCert, cfg.Server.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("%s: tls: %w", cfg.File, err)
		}
		cert = &c
	}
	if cert != nil {
		s.tls = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	}
	for _, tc := range cfg.Tenants {
		var old *storage
		if prev != nil {
			if pt := prev.tenants[tc.ID]; pt != nil {
				old = pt.storage
				if old.backend == tc.Storage.Backend && old.dir == tc.Storage.Dir && pt.cfg.QuotaBytes == 0 && tc.QuotaBytes > 0 {
					// Bytes were not counted without a byte quota.
					if b, f, err := walkUsage(old.fs); err == nil {
						old.usage.mu.Lock()
						old.usage.bytes, old.usage.files = b, f
						old.usage.mu.Unlock()
					}
				}
			}
		}
		st, err := openStorage(tc.Storage, old)
		if err != nil {
			return nil, fmt.Errorf("%s: storage: %w", tc.File, err)
		}
		s.storages = append(s.storages, st)
		t := &tenant{cfg: tc, storage: st, users: map[string]*UserConfig{}}
		for _, u := range tc.Users {
			t.users[u.Name] = u
		}
		s.tenants[tc.ID] = t
		if id, ok := asciiLower(tc.ID); ok { // ids are ASCII (validID)
			s.byID[id] = t
		}
		for _, h := range tc.Hostnames {
			s.byHost[h] = t
		}
		for _, cc := range tc.Certificates {
			c, err := tls.LoadX509KeyPair(cc.Cert, cc.Key)
			if err != nil {
				return nil, fmt.Errorf("%s: certificate for %s: %w", tc.File, cc.Hostname, err)
			}
			s.hostTLS[cc.Hostname] = &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
		}
	}
	if s.tls == nil && len(s.hostTLS) > 0 {
		return nil, fmt.Errorf("%s: tenants have certificates but the server has none: set tls.cert and tls.key", cfg.File)
	}
	return s, nil
}

// closeUnused closes the roots of old that next no longer uses. Files that
// live sessions opened stay usable; new operations through a closed root
// fail, which only happens to sessions of a tenant whose storage moved.
func closeUnused(old, next *state) {
	if old == nil {
		return
	}
	keep := map[*storage]bool{}
	for _, st := range next.storages {
		keep[st] = true
	}
	for _, st := range old.storages {
		if !keep[st] && st.root != nil {
			_ = st.root.Close()
		}
	}
}
