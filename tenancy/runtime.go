package tenancy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"

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

	mu        sync.Mutex
	stopCount context.CancelFunc // ends a running usage count
}

// close stops the storage's count and closes its root. Files that live
// sessions opened stay usable.
func (st *storage) close() {
	st.mu.Lock()
	stop := st.stopCount
	st.mu.Unlock()
	if stop != nil {
		stop()
	}
	if st.root != nil {
		_ = st.root.Close()
	}
}

// state is one loaded configuration: what a login is checked against. A
// reload builds a new one and swaps it in whole.
type state struct {
	cfg     *Config
	tenants map[string]*tenant // by id as configured
	byID    map[string]*tenant // by id in ASCII lower case, for logins
	byHost  map[string]*tenant // by lower-case host name
	tls     *tls.Config        // nil: no TLS
	// clientCAs are the CAs of ServerConfig.TLSClientCA; nil: no
	// certificate login.
	clientCAs *x509.CertPool
	hostTLS   map[string]*tls.Config
	storages  []*storage
	// toCount are the storages whose usage must be counted once the
	// state is in use (startCounts), with their tenants' ids.
	toCount []countJob
}

// countJob is a usage count to start.
type countJob struct {
	st       *storage
	tenantID string
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
// same. What the tenant stored is not looked at here: a new os storage is
// counted in the background (startCounts; the count also removes orphaned
// temporary upload files), so no tree, however deep, large or unreadable,
// delays or stops the start.
func openStorage(c StorageConfig, old *storage, log *slog.Logger) (*storage, error) {
	dir := c.Dir
	if c.S3 != nil {
		dir = c.S3.identity()
	}
	if old != nil && old.backend == c.Backend && old.dir == dir {
		return old, nil
	}
	st := &storage{backend: c.Backend, dir: dir, usage: newUsage()}
	switch c.Backend {
	case BackendS3:
		if c.S3 == nil {
			return nil, errors.New("s3 backend without its settings")
		}
		fsys, err := openS3(c.S3, log)
		if err != nil {
			return nil, err
		}
		st.fs = fsys
		return st, nil
	case BackendMemory:
		st.fs = afero.NewMemMapFs()
		return st, nil
	case BackendOS:
		if err := os.MkdirAll(c.Dir, 0o750); err != nil {
			return nil, err
		}
		root, err := openStorageRoot(c.Dir, log)
		if err != nil {
			return nil, err
		}
		st.root, st.fs = root, &rootFs{root: root}
		return st, nil
	}
	return nil, fmt.Errorf("unknown storage backend %q", c.Backend)
}

// openStorageRoot opens a tenant's directory. A directory that lost its
// owner's permissions (a tenant's CHMOD from before they were kept) gets
// them back, with a warning, rather than keep the tenant from being
// served: the server owns that directory and needs them.
func openStorageRoot(dir string, log *slog.Logger) (*os.Root, error) {
	root, err := os.OpenRoot(dir)
	if err == nil {
		if _, err = root.Stat("."); err == nil {
			if f, ferr := root.Open("."); ferr == nil {
				_ = f.Close()
				return root, nil
			} else {
				err = ferr
			}
		}
		_ = root.Close()
	}
	if !errors.Is(err, fs.ErrPermission) {
		return nil, err
	}
	fi, serr := os.Stat(dir)
	if serr != nil {
		return nil, err
	}
	mode := fi.Mode().Perm() | 0o700
	if cerr := os.Chmod(dir, mode); cerr != nil {
		return nil, err
	}
	log.Warn("tenancy: the storage directory had lost its owner's permissions; they are restored", "dir", dir, "mode", fmt.Sprintf("%#o", mode))
	return os.OpenRoot(dir)
}

// buildState opens everything cfg names. prev, when not nil, is the state
// being replaced, whose storages are reused where unchanged. defaultCert
// is used when the server file names no certificate. On error, the
// storages it opened are closed again. The usage counts it needs are in
// the state's toCount, for startCounts.
func buildState(cfg *Config, prev *state, defaultCert *tls.Certificate, log *slog.Logger) (_ *state, err error) {
	s := &state{cfg: cfg, tenants: map[string]*tenant{}, byID: map[string]*tenant{}, byHost: map[string]*tenant{}, hostTLS: map[string]*tls.Config{}}
	defer func() {
		if err != nil {
			closeUnused(s, prev)
		}
	}()
	cert := defaultCert
	if cfg.Server.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(cfg.Server.TLSCert, cfg.Server.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("%s: tls: %w", cfg.File, err)
		}
		cert = &c
	}
	if cfg.Server.TLSClientCA != "" {
		if s.clientCAs, err = loadClientCAs(cfg.Server.TLSClientCA); err != nil {
			return nil, fmt.Errorf("%s: tls.client_ca: %w", cfg.File, err)
		}
	}
	if cert != nil {
		s.tls = s.serverTLS(*cert, cfg.Server.TLSCipherSuites)
	}
	for _, tc := range cfg.Tenants {
		var old *storage
		recount := false
		if prev != nil {
			if pt := prev.tenants[tc.ID]; pt != nil {
				old = pt.storage
				// Without a quota, bytes were not counted and entries
				// may have drifted: a quota that appears recounts.
				recount = (pt.cfg.QuotaBytes == 0 && tc.QuotaBytes > 0) || (pt.cfg.QuotaFiles == 0 && tc.QuotaFiles > 0)
			}
		}
		st, err := openStorage(tc.Storage, old, log)
		if err != nil {
			return nil, fmt.Errorf("%s: storage: %w", tc.File, err)
		}
		s.storages = append(s.storages, st)
		if st != old {
			if st.root != nil || (st.backend == BackendS3 && (tc.QuotaBytes > 0 || tc.QuotaFiles > 0)) {
				s.toCount = append(s.toCount, countJob{st: st, tenantID: tc.ID})
			}
		} else if recount {
			s.toCount = append(s.toCount, countJob{st: st, tenantID: tc.ID})
		}
		t := &tenant{cfg: tc, storage: st, users: map[string]*UserConfig{}}
		for _, u := range tc.Users {
			t.users[u.Name] = u
		}
		s.tenants[tc.ID] = t
		if id, ok := asciiLower(tc.ID); ok { // ids are ASCII (conf.ValidTenantID)
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
			s.hostTLS[cc.Hostname] = s.serverTLS(c, cfg.Server.TLSCipherSuites)
		}
	}
	if s.tls == nil && len(s.hostTLS) > 0 {
		return nil, fmt.Errorf("%s: tenants have certificates but the server has none: set tls.cert and tls.key", cfg.File)
	}
	return s, nil
}

// closeUnused closes the storages of old that next (may be nil) no longer
// uses. Files that live sessions opened stay usable; new operations
// through a closed root fail, which only happens to sessions of a tenant
// whose storage moved.
func closeUnused(old, next *state) {
	if old == nil {
		return
	}
	keep := map[*storage]bool{}
	if next != nil {
		for _, st := range next.storages {
			keep[st] = true
		}
	}
	for _, st := range old.storages {
		if !keep[st] {
			st.close()
		}
	}
}

// startCounts starts the usage counts s needs; call it before s is in
// use, so that a tenant with a quota takes no change before its count
// (usage.admit). A reused storage already being counted keeps that count.
func startCounts(s *state, c *counter) {
	for _, j := range s.toCount {
		if j.st.usage.beginCount() {
			c.start(j.st, j.tenantID)
		}
	}
	s.toCount = nil
}
