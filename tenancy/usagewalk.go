package tenancy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds of a usage walk. A walk holds two descriptors (the directory's
// os.Root and the open directory it reads) and at most walkBatch names per
// level it is in, so maxWalkDepth bounds one walk to about 2*256+1
// descriptors and, with Go's 8 KiB directory buffer, about 3 MiB.
// Directories deeper than maxWalkDepth, the most any tenant may allow new
// paths (maxPathDepthLimit), so only trees made before the cap or behind
// ftpgate's back, are not entered; they are logged and their contents not
// counted. maxConcurrentWalks walks run at once per Driver, whatever the
// number of tenants.
const (
	maxWalkDepth       = maxPathDepthLimit
	walkBatch          = 64
	maxConcurrentWalks = 2
	maxLoggedSkips     = 8
	maxLoggedPath      = 256
)

// walkStats is what a walk found.
type walkStats struct {
	bytes, files int64 // counted: bytes of regular files, entries
	orphans      int   // temporary upload files of no running upload, removed
	orphanBytes  int64
	skipped      int // entries that could not be read, not counted
	tooDeep      int // directories below maxWalkDepth, not entered
}

// walkFrame is one directory a walk is in.
type walkFrame struct {
	root    *os.Root // the directory (not closed for the walk's own root)
	dir     *os.File // the same directory, open for reading its names
	name    string   // its name in its parent, for log lines
	pending []string // names read but not looked at yet
}

// walkTree counts what lies below root (not root itself): every entry
// (file, directory, link, other) once, and the bytes of regular files. It
// never follows a link, resolves every name relative to its directory's
// handle (so it takes time linear in the entries, whatever the depth), and
// keeps the bounds above. Entries it cannot read are passed to skip (may
// be nil) and left out. With clean, temporary upload files that no
// running upload holds (tryLockFile) are removed and not counted;
// temporary files of running uploads count their bytes, not an entry,
// since their upload counted the entry it will become. ctx stops the
// walk.
func walkTree(ctx context.Context, root *os.Root, clean bool, skip func(path string, err error)) (walkStats, error) {
	if skip == nil {
		skip = func(string, error) {}
	}
	var st walkStats
	top, err := root.Open(".")
	if err != nil {
		return st, err
	}
	stack := []walkFrame{{root: root, dir: top}}
	defer func() {
		for i := range stack {
			closeFrame(&stack[i], root)
		}
	}()
	pathOf := func(name string) string {
		var b strings.Builder
		for _, f := range stack[1:] {
			b.WriteString("/")
			b.WriteString(f.name)
			if b.Len() > maxLoggedPath {
				return b.String()[:maxLoggedPath] + "…"
			}
		}
		b.WriteString("/")
		b.WriteString(name)
		if b.Len() > maxLoggedPath {
			return b.String()[:maxLoggedPath] + "…"
		}
		return b.String()
	}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		f := &stack[len(stack)-1]
		if len(f.pending) == 0 {
			names, err := f.dir.Readdirnames(walkBatch)
			if len(names) == 0 {
				if err != nil && !errors.Is(err, io.EOF) {
					st.skipped++
					skip(pathOf(""), err)
				}
				closeFrame(f, root)
				stack = stack[:len(stack)-1]
				continue
			}
			f.pending = names
		}
		name := f.pending[0]
		f.pending = f.pending[1:]
		fi, err := f.root.Lstat(name)
		if err != nil {
			if !isNotExist(err) {
				st.skipped++
				skip(pathOf(name), err)
			}
			continue
		}
		if isTempName(name) && fi.Mode().IsRegular() {
			if clean && removeOrphan(f.root, name, fi) {
				st.orphans++
				st.orphanBytes += fi.Size()
				continue
			}
			st.bytes += fi.Size()
			continue
		}
		st.files++
		st.bytes += regularBytes(fi)
		if !fi.IsDir() {
			continue
		}
		if len(stack) > maxWalkDepth {
			st.tooDeep++
			continue
		}
		child, dir, err := openWalkDir(f.root, name, fi)
		if err != nil {
			if !isNotExist(err) {
				st.skipped++
				skip(pathOf(name), err)
			}
			continue
		}
		stack = append(stack, walkFrame{root: child, dir: dir, name: name})
	}
	return st, nil
}

// openWalkDir opens the directory name of parent, which Lstat found to be
// fi, and checks that what it opened is that directory: a link put in its
// place meanwhile is not followed.
func openWalkDir(parent *os.Root, name string, fi os.FileInfo) (*os.Root, *os.File, error) {
	child, err := parent.OpenRoot(name)
	if err != nil {
		return nil, nil, err
	}
	dir, err := child.Open(".")
	if err != nil {
		_ = child.Close()
		return nil, nil, err
	}
	got, err := dir.Stat()
	if err != nil || !os.SameFile(fi, got) {
		_ = dir.Close()
		_ = child.Close()
		if err == nil {
			err = os.ErrNotExist // replaced while the walk looked: as if gone
		}
		return nil, nil, err
	}
	return child, dir, nil
}

// closeFrame closes what a frame holds; the walk's own root stays open.
func closeFrame(f *walkFrame, root *os.Root) {
	if f.dir != nil {
		_ = f.dir.Close()
		f.dir = nil
	}
	if f.root != nil && f.root != root {
		_ = f.root.Close()
	}
	f.root = nil
}

// removeOrphan removes the temporary upload file name of dir (found as
// fi) when no upload holds it: it takes the file's lock itself, so an
// upload that is running, in this process or another, keeps its file,
// and it checks that what it locked is still at that name.
func removeOrphan(dir *os.Root, name string, fi os.FileInfo) bool {
	// Non-blocking, not openNonblocking: a FIFO swapped in since the
	// walk's lstat opens at once (and is then not the file fi), and a
	// file another process holds a lease on is left for the next walk
	// rather than waited for.
	f, err := dir.OpenFile(name, os.O_RDONLY|openNoFollow|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	got, err := f.Stat()
	if err != nil || !os.SameFile(fi, got) {
		return false
	}
	if !tryLockFile(f) {
		return false // a running upload's
	}
	return dir.Remove(name) == nil
}

// startCountGrace is how long New waits for the first usage counts, so
// that a usual start serves with them done (no 450 for the first
// uploads); a tree that takes longer goes on being counted in the
// background while the server serves.
const startCountGrace = 2 * time.Second

// awaitCounts waits until s's storages are counted or wait has passed.
func awaitCounts(s *state, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for _, st := range s.storages {
		select {
		case <-st.usage.done():
		case <-t.C:
			return
		}
	}
}

// counter runs a Driver's usage counts in the background: start-up and
// reloads never wait for what a tenant has stored. It bounds the counts
// running at once (slots) and stops them when the driver closes.
type counter struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	slots  chan struct{}
	log    *slog.Logger
}

// newCounter returns a counter logging to log.
func newCounter(log *slog.Logger) *counter {
	ctx, cancel := context.WithCancel(context.Background())
	return &counter{ctx: ctx, cancel: cancel, slots: make(chan struct{}, maxConcurrentWalks), log: log}
}

// close stops the running counts and waits for them.
func (c *counter) close() {
	c.cancel()
	c.wg.Wait()
}

// start counts st's usage in the background; st.usage must already be
// marked as being counted (beginCount). The count ends early, keeping
// what it found so far, when the driver closes or st is closed.
func (c *counter) start(st *storage, tenantID string) {
	ctx, cancel := context.WithCancel(c.ctx)
	st.mu.Lock()
	if st.stopCount != nil {
		st.stopCount()
	}
	st.stopCount = cancel
	st.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			st.usage.endCount(st.usage.snapshot())
			return
		}
		defer func() { <-c.slots }()
		c.count(ctx, st, tenantID)
	}()
}

// count walks st and stores the result, logging what it skipped.
func (c *counter) count(ctx context.Context, st *storage, tenantID string) {
	began := time.Now()
	log := c.log.With("tenant", tenantID, "dir", st.dir)
	logged := 0
	skip := func(p string, err error) {
		if logged < maxLoggedSkips {
			log.Warn("tenancy: usage count skips an entry it cannot read", "path", p, "err", err)
		}
		logged++
	}
	var s walkStats
	var err error
	if st.root != nil {
		s, err = walkTree(ctx, st.root, true, skip)
	} else if u, ok := st.fs.(treeUsage); ok {
		s.bytes, s.files, err = u.Usage(ctx, "/")
	} else {
		var t treeCount
		t, err = walkAfero(st.fs)
		s.bytes, s.files = t.bytes, t.files
	}
	st.usage.endCount(s.bytes, s.files)
	if s.skipped > maxLoggedSkips {
		log.Warn("tenancy: usage count skipped more entries it cannot read", "more", s.skipped-maxLoggedSkips)
	}
	if s.tooDeep > 0 {
		log.Warn("tenancy: usage count did not enter directories nested too deep; their contents are not counted", "directories", s.tooDeep, "max_depth", maxWalkDepth)
	}
	if err != nil {
		log.Warn("tenancy: usage count ended early; what it found so far is used", "err", err)
	}
	log.Info("tenancy: storage use counted", "bytes", s.bytes, "entries", s.files,
		"orphans_removed", s.orphans, "orphan_bytes", s.orphanBytes, "skipped", s.skipped,
		"duration", time.Since(began).Round(time.Millisecond))
}
