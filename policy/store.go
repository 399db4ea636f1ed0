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
	"sync/atomic"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// Storage is where accepted policies are kept: Store, a directory (the
// default), or RedisStore, shared by the instances of a cluster. Its
// methods other than Save, Load, Delete and Tenants are the package's own.
type Storage interface {
	// Save stores wasm as tenant's module with rec's settings
	// (rec.SHA256 is set from wasm).
	Save(tenant string, wasm []byte, rec Record) error
	// Load returns tenant's module and record; fs.ErrNotExist when it
	// has none.
	Load(tenant string) ([]byte, Record, error)
	// Delete removes tenant's record; fs.ErrNotExist when it has none.
	Delete(tenant string) error
	// Tenants lists the tenants with a stored policy.
	Tenants() ([]string, error)
	// Previous returns the module and record tenant's current record
	// replaced, for a rollback; ErrNoPrevious when there is none.
	Previous(tenant string) ([]byte, Record, error)

	record(tenant string) (Record, error)
	quarantined(tenant string) (quarantineMark, bool)
	markQuarantined(tenant, hash, reason string)
	unreadable(r *Runtime) // Tenants failed at Restore
	String() string
}

// Store keeps accepted modules on disk so that they survive a restart.
// Layout under Dir:
//
//	modules/<sha256>.wasm   module bytes, immutable, named by their hash
//	tenants/<tenant>.json   the tenant's record: hash, on_error, config
//	quarantine/<tenant>.json  why the tenant's module failed at restore
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
	// Subscriptions are the module's verbs ("*" for every verb), so that
	// until it is restored the commands it would judge can be refused;
	// none recorded (older records) means every verb.
	Subscriptions []string `json:"subscriptions,omitempty"`
	// Previous is the record this one replaced (its own Previous
	// cleared), whose module is kept for Rollback; nil for a tenant's
	// first upload. One level only: a store holds at most two modules
	// per tenant.
	Previous *Record `json:"previous,omitempty"`
}

// ErrNoPrevious is Store.Previous's error, and AdminHandler.Rollback's,
// when the tenant's record replaced none.
var ErrNoPrevious = errors.New("policy: no previous module to roll back to")

// quarantineMark is the file that keeps a module that failed at restore
// from being compiled again at every start.
type quarantineMark struct {
	SHA256 string    `json:"sha256"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

var errBadTenant = errors.New("policy: invalid tenant id")

func (s *Store) modulePath(hash string) string {
	return filepath.Join(s.Dir, "modules", hash+".wasm")
}

func (s *Store) recordPath(tenant string) string {
	return filepath.Join(s.Dir, "tenants", tenant+".json")
}

func (s *Store) quarantinePath(tenant string) string {
	return filepath.Join(s.Dir, "quarantine", tenant+".json")
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
// filled in, and rec.Previous is set to the record it replaces (so a
// rollback saved through Save can itself be rolled back).
func (s *Store) Save(tenant string, wasm []byte, rec Record) error {
	if conf.ValidTenantID(tenant) != nil {
		return errBadTenant
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := sha256.Sum256(wasm)
	rec.SHA256 = hex.EncodeToString(sum[:])
	rec.Previous = nil
	if cur, err := s.recordLocked(tenant); err == nil {
		cur.Previous = nil
		rec.Previous = &cur
	}
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
	_ = os.Remove(s.quarantinePath(tenant))
	s.collectLocked()
	return nil
}

// Load returns tenant's module and record; fs.ErrNotExist when it has
// none. A module whose bytes no longer match the record's hash is an error.
func (s *Store) Load(tenant string) ([]byte, Record, error) {
	if conf.ValidTenantID(tenant) != nil {
		return nil, Record{}, errBadTenant
	}
	s.mu.Lock()
	rec, err := s.recordLocked(tenant)
	s.mu.Unlock()
	if err != nil {
		return nil, rec, err
	}
	wasm, err := s.readModule(rec.SHA256)
	return wasm, rec, err
}

// readModule reads and checks the module file of hash. It runs outside
// the store's lock: a module is up to MaxModuleSize, read and hashed
// whole, and a tenant's admin may download its module as often as it
// likes, while every tenant's Save waits for the lock. Module files are
// named by their hash and never rewritten; one whose record changed
// since it was read may have been collected, which is an error as a
// read of a record that just changed may be.
func (s *Store) readModule(hash string) ([]byte, error) {
	wasm, err := os.ReadFile(s.modulePath(hash))
	if err != nil {
		return nil, fmt.Errorf("policy store: %w", err)
	}
	if sum := sha256.Sum256(wasm); hex.EncodeToString(sum[:]) != hash {
		return nil, fmt.Errorf("policy store: %s does not match its hash", s.modulePath(hash))
	}
	return wasm, nil
}

// Previous returns the module and record that tenant's record replaced,
// to roll back to; ErrNoPrevious when there is none, fs.ErrNotExist when
// the tenant has no record. A module whose bytes no longer match its
// hash is an error.
func (s *Store) Previous(tenant string) ([]byte, Record, error) {
	if conf.ValidTenantID(tenant) != nil {
		return nil, Record{}, errBadTenant
	}
	prev, err := s.PreviousRecord(tenant)
	if err != nil {
		return nil, Record{}, err
	}
	wasm, err := s.readModule(prev.SHA256) // outside the lock, as Load's
	return wasm, prev, err
}

// PreviousRecord returns the record Previous returns, without reading
// its module (up to MaxModuleSize, and hashed, under the store's one
// lock): what a page offering the rollback shows.
func (s *Store) PreviousRecord(tenant string) (Record, error) {
	if conf.ValidTenantID(tenant) != nil {
		return Record{}, errBadTenant
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.recordLocked(tenant)
	if err != nil {
		return Record{}, err
	}
	if rec.Previous == nil || len(rec.Previous.SHA256) != 64 {
		return Record{}, ErrNoPrevious
	}
	return *rec.Previous, nil
}

// recordLocked reads tenant's record.
func (s *Store) recordLocked(tenant string) (Record, error) {
	var rec Record
	b, err := os.ReadFile(s.recordPath(tenant))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("policy store: %s: %w", s.recordPath(tenant), err)
	}
	if len(rec.SHA256) != 64 {
		return rec, fmt.Errorf("policy store: %s: bad sha256", s.recordPath(tenant))
	}
	return rec, nil
}

// Delete removes tenant's record; fs.ErrNotExist when it has none.
func (s *Store) Delete(tenant string) error {
	if conf.ValidTenantID(tenant) != nil {
		return errBadTenant
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(s.recordPath(tenant)); err != nil {
		return err
	}
	_ = os.Remove(s.quarantinePath(tenant))
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
		if t, ok := strings.CutSuffix(e.Name(), ".json"); ok && conf.ValidTenantID(t) == nil {
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
			if rec.Previous != nil {
				used[rec.Previous.SHA256] = true
			}
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

// Restoring is a Restore in progress.
type Restoring struct {
	done        chan struct{}
	restored    atomic.Int64
	quarantined atomic.Int64
	tenants     []string // the tenants the store listed
}

// Done is closed when every stored policy is installed or quarantined.
func (x *Restoring) Done() <-chan struct{} { return x.done }

// Wait waits for the restore to end, or for ctx; it returns how many
// policies were installed and how many quarantined so far.
func (x *Restoring) Wait(ctx context.Context) (restored, quarantined int) {
	select {
	case <-x.done:
	case <-ctx.Done():
	}
	return int(x.restored.Load()), int(x.quarantined.Load())
}

// Restore is the package-level Restore from the directory store.
func (s *Store) Restore(ctx context.Context, r *Runtime) *Restoring { return Restore(ctx, s, r) }

// Restore installs every policy stored in st into r in the background and
// returns at once. Each tenant's stored policy is marked pending first, so
// that until it is installed the commands it subscribes to are refused
// (Runtime.Evaluate). The modules compile as uploads do, with r's bounds
// (in a child with ChildCompile), on at most CompileWorkers-1 goroutines
// (at least one), so that uploads keep a worker. A module that fails
// (over a bound, refused, unreadable) is quarantined: logged with its
// tenant and hash, its commands refused, and, when the module itself was
// refused, marked in quarantine/ so that later starts do not compile it
// again; a new upload or a DELETE lifts the quarantine. Nothing a tenant
// stored can stop or delay the start.
func Restore(ctx context.Context, s Storage, r *Runtime) *Restoring {
	x := &Restoring{done: make(chan struct{})}
	log := r.cfg.Logger
	tenants, err := s.Tenants()
	if err != nil {
		log.Error("policy: reading the store", "store", s.String(), "err", err)
		s.unreadable(r)
	}
	x.tenants = tenants
	type job struct {
		tenant string
		p      *pendingPolicy
	}
	var jobs []job
	for _, t := range tenants {
		rec, err := s.record(t)
		p := r.markPending(t, rec.SHA256, rec.Subscriptions)
		if err != nil {
			r.quarantine(t, p, "the stored record is unreadable")
			x.quarantined.Add(1)
			log.Error("policy: stored policy quarantined", "tenant", t, "err", err)
			continue
		}
		if q, ok := s.quarantined(t); ok && q.SHA256 == rec.SHA256 {
			r.quarantine(t, p, q.Reason)
			x.quarantined.Add(1)
			log.Warn("policy: stored policy stays quarantined", "tenant", t, "sha256", rec.SHA256, "reason", q.Reason)
			continue
		}
		jobs = append(jobs, job{t, p})
	}
	queue := make(chan job, len(jobs))
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	workers := min(len(jobs), max(1, r.cfg.CompileWorkers-1))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range queue {
				switch restoreOne(ctx, s, r, j.tenant, j.p) {
				case restoreInstalled:
					x.restored.Add(1)
				case restoreQuarantined:
					x.quarantined.Add(1)
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(x.done)
	}()
	return x
}

const (
	restoreInstalled = iota
	restoreQuarantined
	restoreSkipped // superseded, or the runtime closed
)

// restoreOne compiles and installs tenant's stored policy, or quarantines it.
func restoreOne(ctx context.Context, s Storage, r *Runtime, tenant string, p *pendingPolicy) int {
	log := r.cfg.Logger
	wasm, rec, err := s.Load(tenant)
	var oe OnError
	if err == nil {
		oe, err = ParseOnError(rec.OnError)
	}
	var m *Module
	if err == nil {
		m, err = r.compile(ctx, tenant, wasm, rec.Config, true)
	}
	if err == nil {
		if !r.installRestored(tenant, p, m, Settings{OnError: oe, Config: rec.Config}) {
			return restoreSkipped
		}
		return restoreInstalled
	}
	if ctx.Err() != nil || errors.Is(err, errClosed) {
		return restoreSkipped
	}
	reason := err.Error()
	var ve *ValidationError
	if errors.As(err, &ve) {
		reason = ve.Reason
		s.markQuarantined(tenant, p.hash, reason)
	}
	if !r.quarantine(tenant, p, reason) {
		return restoreSkipped
	}
	log.Error("policy: stored policy quarantined", "tenant", tenant, "sha256", p.hash, "reason", reason)
	return restoreQuarantined
}

// record reads tenant's record.
func (s *Store) record(tenant string) (Record, error) {
	if conf.ValidTenantID(tenant) != nil {
		return Record{}, errBadTenant
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordLocked(tenant)
}

// String names the store in log lines.
func (s *Store) String() string { return s.Dir }

// unreadable: a directory that cannot be listed is logged only; the
// server serves without the policies it could not read.
func (s *Store) unreadable(*Runtime) {}

// quarantined returns tenant's quarantine mark, if any.
func (s *Store) quarantined(tenant string) (quarantineMark, bool) {
	var q quarantineMark
	b, err := os.ReadFile(s.quarantinePath(tenant))
	if err != nil || json.Unmarshal(b, &q) != nil {
		return q, false
	}
	return q, true
}

// markQuarantined writes tenant's quarantine mark for the module hash,
// unless tenant's record has moved on to another module meanwhile.
func (s *Store) markQuarantined(tenant, hash, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, err := s.recordLocked(tenant); err != nil || rec.SHA256 != hash {
		return
	}
	b, _ := json.Marshal(quarantineMark{SHA256: hash, Reason: reason, At: time.Now().UTC()})
	_ = writeAtomic(s.quarantinePath(tenant), b)
}
