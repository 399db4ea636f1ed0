package tenancy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"sync"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
)

// errQuotaBytes and errQuotaFiles refuse what would pass a tenant's quota;
// 552 is RFC 959's "exceeded storage allocation". errCounting is the
// transient refusal of a change while the tenant's usage is being counted.
var (
	errQuotaBytes = &engine.ReplyError{Code: 552, Message: "Quota exceeded: the tenant's storage allowance is used up."}
	errQuotaFiles = &engine.ReplyError{Code: 552, Message: "Quota exceeded: the tenant may not store more files."}
	errCounting   = &engine.ReplyError{Code: 450, Message: "The tenant's storage use is being counted after a start or reload; try again in a moment."}
)

// usage is a tenant's storage use, shared by all its sessions: bytes of
// regular files, and entries (files, directories, links) for the files
// quota. It is not stored anywhere: it is counted by walking the tenant's
// tree (usagewalk.go) in the background whenever the storage is opened,
// and when a reload gives the tenant a quota, so it cannot disagree with
// what is on disk after a crash. While a count runs, a tenant with a
// quota is refused every change with a transient 450 (admit), so that the
// count is exact; reading goes on.
type usage struct {
	mu       sync.Mutex
	bytes    int64
	files    int64
	counting bool
	counted  chan struct{} // closed when the running count ends

	// ns serialises, across the storage's sessions, each sequence that
	// looks at a name and then replaces or removes it (an upload's
	// rename into place, RNTO, DELE), so that two of them never give
	// back the same file twice.
	ns sync.Mutex
	// inPlace lists the running uploads in place under a byte quota
	// (APPE, REST+STOR), under mu: a removal of the file one writes to
	// tells it what it gave back (removedBytes), so that the upload can
	// give back the bytes it writes afterwards, which no name holds. At
	// most one entry per running upload.
	inPlace []*inPlaceFile
	// unique holds the names STOU uploads are running for (under ns):
	// a name is taken when its STOU starts, as O_EXCL would take it, so
	// two STOUs never pick the same one. At most one entry per running
	// upload.
	unique map[string]struct{}
}

// newUsage returns a usage that is not being counted.
func newUsage() *usage {
	c := make(chan struct{})
	close(c)
	return &usage{counted: c}
}

// beginCount marks a count as running; it reports false when one already
// is (that one's result will do).
func (u *usage) beginCount() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.counting {
		return false
	}
	u.counting = true
	u.counted = make(chan struct{})
	return true
}

// endCount stores a count's result and lets changes through again.
func (u *usage) endCount(bytes, files int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bytes, u.files = bytes, files
	if u.counting {
		u.counting = false
		close(u.counted)
	}
}

// done returns a channel closed once no count is running.
func (u *usage) done() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.counted == nil {
		u.counted = make(chan struct{})
		close(u.counted)
	}
	return u.counted
}

// admit refuses a change with 450 while a count runs, for a tenant with a
// quota (limited); without one nothing is enforced, so nothing waits.
func (u *usage) admit(limited bool) error {
	if !limited {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.counting {
		return errCounting
	}
	return nil
}

// takeUnique takes name for a STOU, unless another running STOU has it.
func (u *usage) takeUnique(name string) bool {
	u.ns.Lock()
	defer u.ns.Unlock()
	if _, taken := u.unique[name]; taken {
		return false
	}
	if u.unique == nil {
		u.unique = map[string]struct{}{}
	}
	u.unique[name] = struct{}{}
	return true
}

// snapshot returns the current counts.
func (u *usage) snapshot() (bytes, files int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.bytes, u.files
}

// reserve adds n bytes (may be negative) and f files, unless that would
// pass a limit (0: none) that is not already passed by a removal.
func (u *usage) reserve(n, f, maxBytes, maxFiles int64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n > 0 && maxBytes > 0 && u.bytes+n > maxBytes {
		return errQuotaBytes
	}
	if f > 0 && maxFiles > 0 && u.files+f > maxFiles {
		return errQuotaFiles
	}
	u.bytes += n
	u.files += f
	return nil
}

// release undoes a reservation, never going below zero.
func (u *usage) release(n, f int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bytes = max(u.bytes-n, 0)
	u.files = max(u.files-f, 0)
}

// inPlaceFile is a file an upload in place writes to (usage.inPlace).
type inPlaceFile struct {
	fi       os.FileInfo // the open handle's stat: which file
	removed  bool        // its last name was removed, replaced or renamed over
	gaveBack int64       // what that removal gave back (its size then)
}

// trackInPlace registers the file fi (an open handle's stat) an upload in
// place writes to; untrackInPlace ends it.
func (u *usage) trackInPlace(fi os.FileInfo) *inPlaceFile {
	r := &inPlaceFile{fi: fi}
	u.mu.Lock()
	u.inPlace = append(u.inPlace, r)
	u.mu.Unlock()
	return r
}

// untrackInPlace ends r's registration.
func (u *usage) untrackInPlace(r *inPlaceFile) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, x := range u.inPlace {
		if x == r {
			u.inPlace = append(u.inPlace[:i], u.inPlace[i+1:]...)
			return
		}
	}
}

// removedBytes tells the uploads in place writing to the file fi (the
// removed name's lstat) that it lost its name and that n bytes of it were
// given back. A file with other links keeps its bytes: not counted as
// removed.
func (u *usage) removedBytes(fi os.FileInfo, n int64) {
	if fi == nil || hasOtherLinks(fi) {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, r := range u.inPlace {
		if !r.removed && sameFile(r.fi, fi) {
			r.removed, r.gaveBack = true, n
		}
	}
}

// giveBack releases n bytes and f entries that left the storage: from
// this instance's count and, in a cluster, from the shared usage (an
// error there is reported by the store and left to the next count).
func (g *guardFs) giveBack(n, f int64) {
	g.u.release(n, f)
	g.sharedAdd(-n, -f)
}

// sharedAdd adds n bytes and f entries to the shared usage of the
// quotas the tenant has (bytes with a byte quota, entries with a files
// quota); nothing without a shared usage.
func (g *guardFs) sharedAdd(n, f int64) {
	if g.shared == nil {
		return
	}
	if g.maxBytes == 0 {
		n = 0
	}
	if g.maxFiles == 0 {
		f = 0
	}
	_ = g.shared.Add(context.Background(), g.tenant, n, f)
}

// lockNames takes names (paths inside the session's root; TreeLock: the
// tenant's whole storage) for a sequence that looks at what they hold and
// then replaces or removes it: in a cluster, their leases in the shared
// store first, then this instance's name lock. The leases are taken
// before the local lock, and the local lock's holders never wait for a
// lease, so the two cannot wait for each other. The func returned
// releases both.
//
// When the store cannot be reached the sequence goes on under this
// instance's lock alone, whatever FailOpen says (the store reports the
// error): it takes nothing from the quota (fail closed already refused
// the bytes and entries it would take, in takeBytes and reserveEntries),
// a removal must stay possible so that a tenant can free room, and what
// it gives back goes to the same unreachable store, so two such
// sequences can give a file back twice only when Redis answers again
// between the lease and the give-back (RedisQuota's bound).
func (g *guardFs) lockNames(names ...string) (func(), error) {
	release := func() {}
	if g.shared != nil {
		keys := make([]string, len(names))
		for i, n := range names {
			keys[i] = n
			if n != TreeLock {
				keys[i] = path.Join("/", g.home, cleanAbs(n))
			}
		}
		r, err := g.shared.LockNames(context.Background(), g.tenant, keys...)
		switch {
		case errors.Is(err, ErrNamesBusy):
			return nil, errNameBusy
		case err == nil:
			release = r
		}
	}
	g.u.ns.Lock()
	return func() {
		g.u.ns.Unlock()
		release()
	}, nil
}

// takeBytes counts need more bytes of an upload against the byte quota,
// taking them from *allow, the bytes the upload reserved in the shared
// usage and has not written yet; when they do not suffice it reserves
// max(need, step) more there (what the quota leaves, at least the bytes
// missing). Without a shared usage, or when it fails and the quota fails
// open, this instance's count decides.
func (g *guardFs) takeBytes(need int64, allow *int64) error {
	if g.shared == nil {
		return g.u.reserve(need, 0, g.maxBytes, 0)
	}
	if need > *allow {
		missing := need - *allow
		got, err := g.shared.Reserve(context.Background(), g.tenant, missing, max(missing, g.step), g.maxBytes)
		if refusal, local := g.sharedOutcome(err, errQuotaBytes); refusal != nil {
			return refusal
		} else if local {
			return g.u.reserve(need, 0, g.maxBytes, 0)
		}
		*allow += got
	}
	*allow -= need
	return g.u.reserve(need, 0, 0, 0)
}

// regularBytes is what a removed or replaced entry gives back to the byte
// count: a regular file's size, nothing for anything else.
func regularBytes(fi os.FileInfo) int64 {
	if fi != nil && fi.Mode().IsRegular() {
		return fi.Size()
	}
	return 0
}

// limited reports whether the session's tenant has a quota.
func (g *guardFs) limited() bool { return g.maxBytes > 0 || g.maxFiles > 0 }

// reserveEntries counts n new entries against the files quota: in a
// cluster, against the shared count first (a failure there fails open or
// closed as takeBytes does).
func (g *guardFs) reserveEntries(n int64) error {
	if n <= 0 {
		return nil
	}
	if g.shared == nil || g.maxFiles == 0 {
		return g.u.reserve(0, n, 0, g.maxFiles)
	}
	err := g.shared.ReserveFiles(context.Background(), g.tenant, n, g.maxFiles)
	if refusal, local := g.sharedOutcome(err, errQuotaFiles); refusal != nil {
		return refusal
	} else if local {
		return g.u.reserve(0, n, 0, g.maxFiles)
	}
	return g.u.reserve(0, n, 0, 0)
}

// sharedOutcome reads the shared store's answer to a reservation: no
// refusal and local false when it was taken; full when the quota is
// reached; errCounting while the tenant is being counted (a count is
// started); on any other error, errQuotaUnknown when the quota fails
// closed, or local true when it fails open (this instance's own count
// decides).
func (g *guardFs) sharedOutcome(err, full error) (refusal error, local bool) {
	switch {
	case err == nil:
		return nil, false
	case errors.Is(err, ErrQuotaFull):
		return full, false
	case errors.Is(err, ErrNotCounted):
		g.kick()
		return errCounting, false
	case !g.shared.FailOpen():
		return errQuotaUnknown, false
	}
	return nil, true
}

// releaseEntries gives back n entries reserved for what was not made.
func (g *guardFs) releaseEntries(n int64) {
	if n > 0 {
		g.u.release(0, n)
		g.sharedAdd(0, -n)
	}
}

// mkdirCounted makes a directory, counted as one entry of the files
// quota.
func (g *guardFs) mkdirCounted(name string, perm os.FileMode) error {
	if err := g.u.admit(g.limited()); err != nil {
		return err
	}
	if err := g.reserveEntries(1); err != nil {
		return err
	}
	if err := g.inner.Mkdir(name, perm); err != nil {
		g.releaseEntries(1)
		return err
	}
	return nil
}

// mkdirAllCounted makes name and its missing parents, each counted as an
// entry. The missing ones are found from the bottom up, so the search
// stops at the first that exists, and a files quota refuses the lot before
// anything is made when they would not fit.
func (g *guardFs) mkdirAllCounted(name string, perm os.FileMode) error {
	if err := g.u.admit(g.limited()); err != nil {
		return err
	}
	name = cleanAbs(name)
	var missing []string // deepest first
	for p := name; p != "/"; p = path.Dir(p) {
		fi, err := g.inner.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return &os.PathError{Op: "mkdir", Path: p, Err: errNotDir}
			}
			break
		}
		if !isNotExist(err) {
			return err
		}
		missing = append(missing, p)
		if g.maxFiles > 0 {
			if _, used := g.u.snapshot(); used+int64(len(missing)) > g.maxFiles {
				return errQuotaFiles
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	n := int64(len(missing))
	if err := g.reserveEntries(n); err != nil {
		return err
	}
	made := int64(0)
	for i := len(missing) - 1; i >= 0; i-- {
		err := g.inner.Mkdir(missing[i], perm)
		if err == nil {
			made++
			continue
		}
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := g.inner.Stat(missing[i]); serr == nil && fi.IsDir() {
				continue // made meanwhile by someone else, who counted it
			}
		}
		g.releaseEntries(n - made)
		return err
	}
	g.releaseEntries(n - made)
	return nil
}

// makeHome makes a user's home and its missing parents in st, counting
// each directory it makes as an entry (beyond any quota: the home is the
// administrator's), and returns how many it made.
func makeHome(st *storage, home string) (int64, error) {
	missing := int64(0)
	for p := cleanAbs(home); p != "/"; p = path.Dir(p) {
		if _, err := st.fs.Stat(p); err == nil || !isNotExist(err) {
			break
		}
		missing++
	}
	if missing == 0 {
		return 0, nil
	}
	if err := st.fs.MkdirAll(cleanAbs(home), 0o750); err != nil {
		return 0, err
	}
	_ = st.usage.reserve(0, missing, 0, 0)
	return missing, nil
}

// errNotDir is MkdirAll's refusal of a path through a file.
var errNotDir = errors.New("not a directory")

// symlinkCounted makes a link, counted as one entry. The link's target may
// not name a reserved name either, or a link would reach another
// session's partial upload.
func (g *guardFs) symlinkCounted(oldname, newname string) error {
	if err := checkReserved(oldname); err != nil {
		return err
	}
	sl, ok := g.inner.(interface{ Symlink(string, string) error })
	if !ok {
		return &engine.ReplyError{Code: 502, Message: "This storage has no symbolic links."}
	}
	if err := g.u.admit(g.limited()); err != nil {
		return err
	}
	if err := g.reserveEntries(1); err != nil {
		return err
	}
	if err := sl.Symlink(oldname, newname); err != nil {
		g.releaseEntries(1)
		return err
	}
	return nil
}

// removeCounted removes a file, link or empty directory and gives back
// what it counted, as found just before the removal.
func (g *guardFs) removeCounted(name string) error {
	if err := g.u.admit(g.limited()); err != nil {
		return err
	}
	unlock, err := g.lockNames(name)
	if err != nil {
		return err
	}
	defer unlock()
	fi, err := g.lstat(name)
	if err != nil {
		return err
	}
	if err := g.inner.Remove(name); err != nil {
		return err
	}
	g.giveBack(regularBytes(fi), 1)
	g.u.removedBytes(fi, regularBytes(fi))
	return nil
}

// removeAllCounted removes a tree and gives back what it held; when the
// removal stops half-way, what is left is counted again so that only the
// part removed is given back.
func (g *guardFs) removeAllCounted(name string) error {
	if err := g.u.admit(g.limited()); err != nil {
		return err
	}
	unlock, err := g.lockNames(TreeLock)
	if err != nil {
		return err
	}
	defer unlock()
	before, err := countTree(g.inner, name)
	if err != nil {
		return err
	}
	rerr := g.inner.RemoveAll(name)
	after := treeCount{}
	if rerr != nil {
		after, _ = countTree(g.inner, name)
	}
	g.giveBack(max(before.bytes-after.bytes, 0), max(before.files-after.files, 0))
	return rerr
}

// renameCounted renames, giving back the entry a rename replaces. It
// holds both names (the source too: a file moved away from newname by
// another rename between the look and this rename would be given back
// while it stays), or the whole storage for a directory, whose rename
// moves every name below it.
func (g *guardFs) renameCounted(oldname, newname string) error {
	if err := g.u.admit(g.limited()); err != nil {
		return err
	}
	scope := []string{oldname, newname}
	if fi, err := g.lstat(oldname); err == nil && fi.IsDir() {
		scope = []string{TreeLock}
	}
	unlock, err := g.lockNames(scope...)
	if err != nil {
		return err
	}
	defer unlock()
	replaced, lerr := g.lstat(newname)
	if lerr == nil {
		if src, err := g.lstat(oldname); err == nil && sameFile(src, replaced) {
			replaced = nil // the same file under two names: nothing goes
		}
	} else {
		replaced = nil
	}
	if err := g.inner.Rename(oldname, newname); err != nil {
		return err
	}
	if replaced != nil {
		g.giveBack(regularBytes(replaced), 1)
		g.u.removedBytes(replaced, regularBytes(replaced))
	}
	return nil
}

// treeCount is what a tree holds: bytes of regular files and entries.
type treeCount struct {
	bytes, files int64
}

// countTree counts name and everything below it in fsys, following no
// link: on the os backend with directory handles (walkTree), elsewhere
// with afero.Walk. Temporary upload files count their bytes only: they
// are no entries of their own.
func countTree(fsys afero.Fs, name string) (treeCount, error) {
	var fi os.FileInfo
	var err error
	if ls, ok := fsys.(afero.Lstater); ok {
		fi, _, err = ls.LstatIfPossible(name)
	} else {
		fi, err = fsys.Stat(name)
	}
	if err != nil {
		if isNotExist(err) {
			return treeCount{}, nil
		}
		return treeCount{}, err
	}
	self := treeCount{bytes: regularBytes(fi), files: 1}
	if isTempName(path.Base(name)) {
		self.files = 0
	}
	if !fi.IsDir() {
		return self, nil
	}
	if u, ok := fsys.(treeUsage); ok {
		b, n, err := u.Usage(context.Background(), name)
		// A directory's own marker is among the objects Usage counts.
		return treeCount{bytes: b, files: max(n, 1)}, err
	}
	if r, ok := fsys.(*rootFs); ok {
		sub, err := r.openRoot(name)
		if err != nil {
			return self, err
		}
		defer sub.Close()
		st, err := walkTree(context.Background(), sub, false, nil)
		return treeCount{bytes: self.bytes + st.bytes, files: self.files + st.files}, err
	}
	t, err := walkAfero(afero.NewBasePathFs(fsys, name))
	return treeCount{bytes: self.bytes + t.bytes, files: self.files + t.files}, err
}

// treeUsage is a backend that counts a tree itself (object storage: one
// flat listing instead of a walk of every directory).
type treeUsage interface {
	Usage(ctx context.Context, name string) (bytes, objects int64, err error)
}

// walkAfero counts the entries below the root of fsys (not the root
// itself) and the bytes of its regular files, without following links.
// It is for the memory backend, whose lookups cost nothing.
func walkAfero(fsys afero.Fs) (treeCount, error) {
	var t treeCount
	err := afero.Walk(fsys, "/", func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if p == "/" || p == "" {
			return nil
		}
		t.bytes += regularBytes(fi)
		if !isTempName(path.Base(p)) {
			t.files++
		}
		return nil
	})
	return t, err
}

// isNotExist reports a missing file.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
