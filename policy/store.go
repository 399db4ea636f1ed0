package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Store keeps accepted modules on disk so that they survive a restart.
// Layout under Dir:
//
//	modules/<sha256>.wasm   module bytes, immutable, named by their hash
//	tenants/<tenant>.json   the tenant's record: hash, on_error, config
//
// Every file is written to a temporary name, fsynced, renamed into place
// and its directory fsynced, so a crash leaves the old record or the new
// one, never a torn file. The tenant record's rename is the commit point;
// module files nobody references are removed after each change.
type Store struct {
	Dir string

	mu sync.Mutex
}

// Record is what the Store keeps per tenant.
type Record struct {
	SHA256   string    `json:"sha256"`
	OnError  string    `json:"on_error"`
	Config   []byte    `json:"config,omitempty"`
	Uploaded time.Time `json:"uploaded"`
}

// ValidTenant reports whether id can name a tenant: 1 to 64 of
// [A-Za-z0-9._-], not starting with a dot, so it is always a safe file
// name and URL segment.
func ValidTenant(id string) bool {
	if id == "" || len(id) > 64 || id[0] == '.' {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

var errBadTenant = errors.New("policy: invalid tenant id")

func (s *Store) modulePath(hash string) string {
	return filepath.Join(s.Dir, "modules", hash+".wasm")
}

func (s *Store) recordPath(tenant string) string {
	return filepath.Join(s.Dir, "tenants", tenant+".json")
}

// writeAtomic writes b to name through a synced temporary file.
func writeAtomic(name string, b []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Save stores wasm as tenant's module with rec's settings; rec.SHA256 is
// filled in.
func (s *Store) Save(tenant string, wasm []byte, rec Record) error {
	if !ValidTenant(tenant) {
		return errBadTenant
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := sha256.Sum256(wasm)
	rec.SHA256 = hex.EncodeToString(sum[:])
	mp := s.modulePath(rec.SHA256)
	if _, err := os.Stat(mp); err != nil {
		if err := writeAtomic(mp, wasm); err != nil {
			return fmt.Errorf("policy store: %w", err)
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := writeAtomic(s.recordPath(tenant), b); err != nil {
		return fmt.Errorf("policy store: %w", err)
	}
	s.collectLocked()
	return nil
}

// Load returns tenant's module and record; fs.ErrNotExist when it has
// none. A module whose bytes no longer match the record's hash is an error.
func (s *Store) Load(tenant string) ([]byte, Record, error) {
	if !ValidTenant(tenant) {
		return nil, Record{}, errBadTenant
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rec Record
	b, err := os.ReadFile(s.recordPath(tenant))
	if err != nil {
		return nil, rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, rec, fmt.Errorf("policy store: %s: %w", s.recordPath(tenant), err)
	}
	if len(rec.SHA256) != 64 {
		return nil, rec, fmt.Errorf("policy store: %s: bad sha256", s.recordPath(tenant))
	}
	wasm, err := os.ReadFile(s.modulePath(rec.SHA256))
	if err != nil {
		return nil, rec, fmt.Errorf("policy store: %w", err)
	}
	if sum := sha256.Sum256(wasm); hex.EncodeToString(sum[:]) != rec.SHA256 {
		return nil, rec, fmt.Errorf("policy store: %s does not match its hash", s.modulePath(rec.SHA256))
	}
	return wasm, rec, nil
}

// Delete removes tenant's record; fs.ErrNotExist when it has none.
func (s *Store) Delete(tenant string) error {
	if !ValidTenant(tenant) {
		return errBadTenant
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(s.recordPath(tenant)); err != nil {
		return err
	}
	_ = syncDir(filepath.Dir(s.recordPath(tenant)))
	s.collectLocked()
	return nil
}

// Tenants lists the tenants with a stored policy.
func (s *Store) Tenants() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, "tenants"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if t, ok := strings.CutSuffix(e.Name(), ".json"); ok && ValidTenant(t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// collectLocked removes module files no record references, and stale
// temporary files.
func (s *Store) collectLocked() {
	used := map[string]bool{}
	tenants, _ := s.Tenants()
	for _, t := range tenants {
		var rec Record
		if b, err := os.ReadFile(s.recordPath(t)); err == nil && json.Unmarshal(b, &rec) == nil {
			used[rec.SHA256] = true
		}
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir, "modules"))
	for _, e := range entries {
		hash, ok := strings.CutSuffix(e.Name(), ".wasm")
		if (ok && !used[hash]) || strings.HasPrefix(e.Name(), ".tmp-") {
			_ = os.Remove(filepath.Join(s.Dir, "modules", e.Name()))
		}
	}
}

// Restore compiles and installs every stored policy into r. A record that
// fails is logged and skipped, so that one bad file does not keep the
// server down; it returns how many were installed.
func (s *Store) Restore(ctx context.Context, r *Runtime) int {
	tenants, err := s.Tenants()
	if err != nil {
		r.cfg.Logger.Error("policy: reading the store", "dir", s.Dir, "err", err)
	}
	n := 0
	for _, t := range tenants {
		wasm, rec, err := s.Load(t)
		var oe OnError
		if err == nil {
			oe, err = ParseOnError(rec.OnError)
		}
		var m *Module
		if err == nil {
			m, err = r.Compile(ctx, wasm, rec.Config)
		}
		if err != nil {
			r.cfg.Logger.Error("policy: stored policy not restored", "tenant", t, "err", err)
			continue
		}
		r.Install(t, m, Settings{OnError: oe, Config: rec.Config})
		n++
	}
	return n
}
