package tenancy

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"sync"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
	"github.com/spf13/afero/mem"
)

// Uploads in a tenant's storage (every backend, with or without a quota).
//
// A plain upload (STOR without REST, STOU: the engine opens with O_TRUNC
// or O_EXCL) writes to a temporary file with a reserved name (tempPrefix)
// in the target's directory and renames it over the target when its
// handle is closed after a transfer that reported no error
// (engine.FileTransferError); a failed transfer removes the temporary
// file. The engine answers 226 only once that Close has succeeded, so the
// target is either the old file or the complete new one, whatever ABOR, a
// stall, a refused MODE Z stream, another session, SIGTERM or kill -9 do.
//
// APPE and REST+STOR (and COMB's target) are resumptions: they write in
// place, so what arrived stays whatever happens next and a client can
// resume again from SIZE; a failure truncates nothing. Their Close checks
// that the name still leads to the file they wrote: when it was replaced
// or removed meanwhile the bytes went nowhere, and the transfer gets 451.

// tempPrefix starts the names of temporary upload files; it is within
// reservedPrefix, so no user can reach, list or make such a name.
const tempPrefix = reservedPrefix + "upload-"

// tempAttempts bounds the names tried for a temporary file.
const tempAttempts = 4

// isTempName reports whether a directory entry is a temporary upload file.
func isTempName(name string) bool {
	return len(name) >= len(tempPrefix) && equalFoldASCII(name[:len(tempPrefix)], tempPrefix)
}

// equalFoldASCII compares two strings without ASCII case.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// errReplacedMeanwhile answers an APPE or REST+STOR whose file was
// replaced, moved or removed while it ran.
func errReplacedMeanwhile(name string) error {
	return &engine.ReplyError{Code: 451, Message: name + ": the file was replaced, moved or removed during the upload; the bytes did not reach it."}
}

// errTakenMeanwhile answers a STOU whose name another upload took while
// it ran.
func errTakenMeanwhile(name string) error {
	return &engine.ReplyError{Code: 451, Message: name + ": the name was taken during the upload; the file was not stored."}
}

// openUpload opens name (whose rights were checked; fi is what is there,
// nil for nothing) for an upload with the engine's flags, counting a new
// entry against the files quota and, with a byte quota, every byte
// written.
func (g *guardFs) openUpload(name string, flag int, perm os.FileMode, fi os.FileInfo) (afero.File, error) {
	if err := g.u.admit(g.limited()); err != nil {
		return nil, err
	}
	exists := fi != nil
	excl := flag&os.O_EXCL != 0
	if excl && (exists || !g.u.takeUnique(cleanAbs(name))) {
		return nil, &os.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	}
	newFiles := int64(0)
	if !exists {
		newFiles = 1
	}
	c := &uploadCore{g: g, name: cleanAbs(name), files: newFiles, excl: excl}
	if err := g.reserveEntries(newFiles); err != nil {
		c.dropUnique()
		return nil, err
	}
	var f afero.File
	var err error
	size := int64(0)
	if wholeAtClose(g.inner) {
		// Object storage: the upload itself appears whole at Close, and a
		// rename would be a copy of every byte. A resumption (APPE,
		// REST+STOR) is rebuilt whole too: the new object replaces the
		// old one, so its size counts from 0 (the head kept is reserved
		// by the Seek/Truncate of REST or, for APPE, below).
		f, err = g.inner.OpenFile(name, flag, perm)
		c.atomic = true
	} else if flag&(os.O_TRUNC|os.O_EXCL) != 0 {
		access := flag & (os.O_WRONLY | os.O_RDWR)
		f, c.temp, err = createTemp(g.inner, c.name, access, perm)
	} else {
		f, err = g.inner.OpenFile(name, flag, perm)
		if err == nil {
			var opened os.FileInfo
			if opened, err = regularHandle(f, name); err != nil {
				_ = f.Close()
			} else if g.maxBytes > 0 && opened != nil {
				c.inPlace = g.u.trackInPlace(opened)
			}
		}
		if exists {
			size = fi.Size()
		}
	}
	if err != nil {
		g.releaseEntries(newFiles)
		c.dropUnique()
		return nil, err
	}
	if g.maxBytes == 0 {
		// Without a byte quota the bytes need not be seen: the engine
		// copies to the file itself (DirectFile), keeping splice.
		return &directUpload{File: f, c: c}, nil
	}
	pos := int64(0)
	if flag&os.O_APPEND != 0 {
		pos = size
	}
	q := &quotaUpload{File: f, c: c, size: size, pos: pos, appending: flag&os.O_APPEND != 0}
	c.bytes = func() int64 { return q.size }
	c.unused = func() int64 { n := q.allow; q.allow = 0; return n }
	if c.atomic && flag&os.O_APPEND != 0 && exists {
		// The appended object holds the old bytes again until it
		// replaces the old one (settle gives those back).
		if err := q.Truncate(fi.Size()); err != nil {
			if te, ok := f.(engine.FileTransferError); ok {
				te.TransferError(errUploadFailed)
			}
			_ = f.Close()
			g.giveBack(q.size, newFiles)
			c.dropUnique()
			return nil, err
		}
		q.pos = fi.Size()
	}
	return q, nil
}

// regularHandle returns errNotRegular unless f, opened in place for an
// upload, is a regular file: what resolution saw was one (OpenFile), but
// a FIFO or device put at the name from outside before the open would be
// opened instead (rootFs checks that it is the file lstat sees, not its
// type). One fstat, on the rare resumptions only. It returns the handle's
// stat (nil when it cannot tell), which names the file the upload writes
// to (usage.trackInPlace).
func regularHandle(f afero.File, name string) (os.FileInfo, error) {
	fi, err := f.Stat()
	if _, isOS := f.(*os.File); !isOS {
		// The memory backend has nothing but files and directories.
		if err != nil {
			return nil, nil
		}
		return fi, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular(name)
	}
	return fi, nil
}

// createTemp creates a temporary upload file next to name, locked
// (tryLockFile) so that no usage walk takes it for an orphan. A walk that
// removed the new file before the lock was taken is noticed (the handle's
// file has no name left: fstat's link count) and another name is tried;
// the name cannot have been taken by another file meanwhile, for only
// this upload makes it. Counting links needs one system call where
// comparing the handle with an lstat of the name needed two, and the
// lstat walked the directories above it once more.
func createTemp(fsys afero.Fs, name string, access int, perm os.FileMode) (afero.File, string, error) {
	dir := path.Dir(name)
	var lastErr error
	for range tempAttempts {
		// math/rand/v2's generator (ChaCha8, seeded by the runtime):
		// the name needs to be unlikely to be taken, not secret (users
		// cannot reach reserved names; O_EXCL settles a clash), and
		// crypto/rand made a getrandom call per upload here.
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], rand.Uint64())
		tmp := path.Join(dir, tempPrefix+hex.EncodeToString(b[:]))
		f, err := fsys.OpenFile(tmp, access|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				lastErr = err
				continue
			}
			return nil, "", err
		}
		of, isOS := f.(*os.File)
		if !isOS {
			return f, tmp, nil
		}
		if tryLockFile(of) {
			if mine, err := of.Stat(); err == nil && !unlinked(mine) {
				return f, tmp, nil
			}
		}
		// A walk holds it or removed it: leave it to the walk.
		_ = f.Close()
		lastErr = &os.PathError{Op: "create", Path: tmp, Err: fs.ErrExist}
	}
	return nil, "", lastErr
}

// lstatOf returns name's own information in fsys.
func lstatOf(fsys afero.Fs, name string) (os.FileInfo, error) {
	if ls, ok := fsys.(afero.Lstater); ok {
		fi, _, err := ls.LstatIfPossible(name)
		return fi, err
	}
	return fsys.Stat(name)
}

// sameFile reports whether two FileInfos describe the same file: the same
// inode on disk, the same node of a memory filesystem.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return false
	}
	if os.SameFile(a, b) {
		return true
	}
	ma, ok1 := a.(*mem.FileInfo)
	mb, ok2 := b.(*mem.FileInfo)
	return ok1 && ok2 && ma.FileData == mb.FileData
}

// wholeAtClose reports whether fsys's uploads appear only when their
// handle's Close succeeds, and vanish after a TransferError (an object
// store's multipart upload): such uploads need no temporary file.
func wholeAtClose(fsys afero.Fs) bool {
	w, ok := fsys.(interface{ UploadsWholeAtClose() bool })
	return ok && w.UploadsWholeAtClose()
}

// uploadCore is what every upload handle does at its end.
type uploadCore struct {
	g      *guardFs
	name   string // the target, clean, inside the session's root
	atomic bool   // written to the target, appearing at Close (wholeAtClose)
	temp   string // the temporary file, or "" for an upload in place
	excl   bool   // STOU: the rename may not replace anything
	files  int64  // entries reserved at open
	// inPlace is the file an upload in place under a byte quota writes
	// to, registered so that a removal of it is told (nil otherwise).
	inPlace *inPlaceFile
	bytes   func() int64
	// unused returns, and forgets, what the upload reserved in the
	// shared usage and did not write (nil without a byte quota).
	unused func() int64
	failed bool
	once   sync.Once
	err    error
}

// finish ends the upload on f: a temporary file is renamed into place or,
// after a failure, removed and its reservations given back; a file
// written in place is checked to still be at its name. The error is what
// the engine turns into 451 instead of 226.
func (c *uploadCore) finish(f afero.File) error {
	c.once.Do(func() {
		defer c.dropUnique()
		defer c.returnUnused()
		if c.atomic {
			c.err = c.finishWhole(f)
			return
		}
		if c.temp == "" {
			c.err = c.finishInPlace(f)
			return
		}
		if c.failed {
			c.discard(f)
			return
		}
		c.err = c.commit(f)
	})
	return c.err
}

// finishInPlace closes f; after a success it checks that the name still
// leads to the file written. Nothing is undone after a failure: the bytes
// that arrived stay, for the next resumption.
func (c *uploadCore) finishInPlace(f afero.File) error {
	mine, serr := f.Stat()
	cerr := f.Close()
	c.giveBackRemoved()
	if cerr != nil || c.failed {
		return cerr
	}
	there, lerr := lstatOf(c.g.inner, c.name)
	if serr != nil || lerr != nil || !sameFile(mine, there) {
		return errReplacedMeanwhile(c.name)
	}
	return nil
}

// giveBackRemoved ends an upload in place's registration; when its file
// lost its last name while it wrote (DELE, a replacing upload, RNTO over
// it), the bytes counted for the file beyond what that removal gave back
// were written to no name: they are given back here, or a user could fill
// the quota with bytes that are on no disk.
func (c *uploadCore) giveBackRemoved() {
	r := c.inPlace
	if r == nil {
		return
	}
	c.g.u.untrackInPlace(r)
	c.g.u.mu.Lock()
	removed, gave := r.removed, r.gaveBack
	c.g.u.mu.Unlock()
	if n := c.written() - gave; removed && n > 0 {
		c.g.giveBack(n, 0)
	}
}

// errUploadFailed is what an upload that appears whole at Close is told
// when its transfer failed.
var errUploadFailed = errors.New("tenancy: the transfer failed")

// finishWhole ends an upload that appears whole at Close: after a failure
// the backend is told (its upload is aborted, nothing appears) and the
// reservations go back; after a success its parts are sent (SendParts,
// when the backend has it) and then Close completes it under the name
// lock, and the counts are settled as for a rename into place. A
// STOU whose name another upload took meanwhile is aborted.
func (c *uploadCore) finishWhole(f afero.File) error {
	g := c.g
	abort := func() {
		if te, ok := f.(engine.FileTransferError); ok {
			te.TransferError(errUploadFailed)
		}
		_ = f.Close()
		g.giveBack(c.written(), c.files)
	}
	if c.failed {
		abort()
		return nil
	}
	// The parts' bytes go before the name lock is taken: it is held
	// across the request that makes the object, not a part's upload.
	if sp, ok := f.(interface{ SendParts() error }); ok {
		if err := sp.SendParts(); err != nil {
			// Close without the parts aborts the upload: nothing
			// appears, so what it reserved goes back everywhere.
			_ = f.Close()
			g.giveBack(c.written(), c.files)
			return err
		}
	}
	unlock, err := g.lockNames(c.name)
	if err != nil {
		abort()
		return err
	}
	defer unlock()
	replaced, lerr := lstatOf(g.inner, c.name)
	if lerr != nil && !isNotExist(lerr) {
		abort()
		return lerr
	}
	if lerr != nil {
		replaced = nil
	}
	if c.excl && replaced != nil {
		abort()
		return errTakenMeanwhile(c.name)
	}
	if err := c.mayReplace(replaced); err != nil {
		abort()
		return err
	}
	if err := f.Close(); err != nil {
		g.giveBack(c.written(), c.files)
		if c.excl && errors.Is(err, fs.ErrExist) {
			// The store refused the conditional write: another
			// instance took the name after the check above.
			return errTakenMeanwhile(c.name)
		}
		return err
	}
	c.settle(replaced)
	return nil
}

// mayReplace refuses to put the upload over replaced (what the commit
// found at the name, nil for nothing) when the name was free at the
// upload's open and the user lacks the overwrite right: the open then
// asked only for the upload right, and without this check a user who
// may upload but not overwrite could start an upload of a new name, hold
// it until another user stored a file there, and replace that file.
func (c *uploadCore) mayReplace(replaced os.FileInfo) error {
	if replaced == nil || c.files == 0 {
		return nil
	}
	if err := c.g.check(c.name, PermOverwrite); err != nil {
		return &engine.ReplyError{Code: 550, Message: c.name + ": the name was taken during the upload, and replacing a file needs the overwrite right; the file was not stored."}
	}
	return nil
}

// settle counts a finished upload (under the name lock): the entry it
// replaced, if any, is given back, and the new one counts once, 1 - gone,
// of which c.files was reserved at the start.
func (c *uploadCore) settle(replaced os.FileInfo) {
	gone := int64(0)
	if replaced != nil {
		gone = 1
		c.g.giveBack(regularBytes(replaced), 0)
		c.g.u.removedBytes(replaced, regularBytes(replaced))
	}
	if d := 1 - gone - c.files; d > 0 {
		_ = c.g.u.reserve(0, d, 0, 0)
		c.g.sharedAdd(0, d)
	} else if d < 0 {
		c.g.releaseEntries(-d)
	}
}

// returnUnused gives back to the shared usage what the upload reserved
// there and did not write.
func (c *uploadCore) returnUnused() {
	if c.unused == nil || c.g.shared == nil {
		return
	}
	if n := c.unused(); n > 0 {
		_ = c.g.shared.Add(context.Background(), c.g.tenant, -n, 0)
	}
}

// dropUnique gives back the name a STOU took.
func (c *uploadCore) dropUnique() {
	if c.excl {
		c.g.u.ns.Lock()
		delete(c.g.u.unique, c.name)
		c.g.u.ns.Unlock()
	}
}

// written is what the upload reserved for its bytes (0 without a byte
// quota).
func (c *uploadCore) written() int64 {
	if c.bytes == nil {
		return 0
	}
	return c.bytes()
}

// discard removes the temporary file (still locked) and gives back what
// the upload reserved; a file that cannot be removed keeps its count and
// is an orphan for the next walk.
func (c *uploadCore) discard(f afero.File) {
	err := c.g.inner.Remove(c.temp)
	_ = f.Close()
	if err == nil || isNotExist(err) {
		c.g.giveBack(c.written(), c.files)
	}
}

// commit renames the temporary file over the target while it is still
// locked, then closes it, and settles the counts: the replaced entry is
// given back at the rename, and the new one counts once whether or not
// its name existed when the upload began.
func (c *uploadCore) commit(f afero.File) error {
	g := c.g
	unlock, err := g.lockNames(c.name)
	if err != nil {
		c.discard(f)
		return err
	}
	replaced, lerr := lstatOf(g.inner, c.name)
	if lerr != nil && !isNotExist(lerr) {
		unlock()
		c.discard(f)
		return lerr
	}
	if lerr != nil {
		replaced = nil
	}
	if c.excl && replaced != nil {
		unlock()
		c.discard(f)
		return errTakenMeanwhile(c.name)
	}
	if err := c.mayReplace(replaced); err != nil {
		unlock()
		c.discard(f)
		return err
	}
	if err := c.putInPlace(f, replaced); err != nil {
		unlock()
		c.discard(f)
		return err
	}
	c.settle(replaced)
	unlock()
	if err := f.Close(); err != nil {
		// The rename is done; a late write error (NFS) still fails
		// the transfer rather than acknowledge bytes that may be lost.
		return err
	}
	return nil
}

// fileReplacer is a backend that replaces a regular file with a
// temporary upload file in the same directory more cheaply than Rename
// (rootFs on Linux: replaceFile); replaced is what the target holds, and
// done is false when it did nothing.
type fileReplacer interface {
	replaceFile(temp, target string, data afero.File, replaced os.FileInfo) (done bool, err error)
}

// putInPlace moves the temporary file to the target: through the
// backend's replaceFile when the target is a regular file it replaces,
// otherwise (a new name, another backend, or one that declined) with
// Rename.
func (c *uploadCore) putInPlace(f afero.File, replaced os.FileInfo) error {
	if fr, ok := c.g.inner.(fileReplacer); ok && replaced != nil && replaced.Mode().IsRegular() {
		if done, err := fr.replaceFile(c.temp, c.name, f, replaced); done {
			return err
		}
	}
	return c.g.inner.Rename(c.temp, c.name)
}

// directUpload is an upload handle for a tenant without a byte quota: the
// engine reads and writes the file it wraps directly (DirectFile), so
// splice still applies, and calls its TransferError and Close.
type directUpload struct {
	afero.File
	c *uploadCore
}

// DirectFile implements engine.FileTransferDirect.
func (d *directUpload) DirectFile() afero.File { return d.File }

// TransferError marks the upload failed, so Close discards it.
func (d *directUpload) TransferError(error) { d.c.failed = true }

// Close ends the upload (uploadCore.finish).
func (d *directUpload) Close() error { return d.c.finish(d.File) }

// quotaUpload is an upload handle for a tenant with a byte quota: each
// write first reserves the bytes by which it grows the file, and one that
// would pass the quota fails with 552. From the plain data connection the
// engine hands it the socket (ReadFrom, engine.FileTransferSplice), which
// reserves a step and splices it. What a failed temporary upload
// reserved is given back when its file is removed; an upload in place
// keeps what it wrote, and gives back only what it reserved and did not
// write.
type quotaUpload struct {
	afero.File
	c    *uploadCore
	size int64 // the file's length as far as this handle knows
	pos  int64
	// allow is what the upload reserved in the shared usage and has not
	// written yet (guardFs.takeBytes), at most one step; given back at
	// the end.
	allow int64
	// appending: the file is open with O_APPEND, which splice refuses.
	appending bool
}

// spliceStep bounds what one splice of a quota'd upload reserves before it
// writes, and so what a running upload holds of the quota ahead of the
// bytes that arrived (the price of splice: the kernel writes bytes no one
// counted, so they are reserved first). Near the quota's edge, within one
// step per running upload, an upload may then get 552 while the others
// hold steps they do not fill, as a cluster's step (1 MiB by default)
// already works. 1 MiB, the most Go's splice moves per system call (its
// pipe's size): a smaller step would split a fast upload's splices (256
// KiB steps: 4 splice calls for 1 where the engine alone makes 1). With
// a shared usage the step bounds it too (RedisQuota's bound: at most one
// step unwritten per upload).
const spliceStep = 1 << 20

// edgeBuffer is the buffer of a step copied through Write at the quota's
// edge (one per ReadFrom that reaches it, allocated then).
const edgeBuffer = 32 << 10

// maxSpliceUnwrap bounds the wrappers spliceTarget looks through.
const maxSpliceUnwrap = 4

// spliceTarget returns the *os.File the upload writes to, when splice can
// write to it: not one in append mode (splice refuses O_APPEND, and Go's
// ReadFrom then copies through a buffer of its own).
func (q *quotaUpload) spliceTarget() *os.File {
	if q.appending {
		return nil
	}
	f := q.File
	for range maxSpliceUnwrap {
		switch w := f.(type) {
		case *os.File:
			return w
		case *afero.BasePathFile:
			f = w.File
		default:
			return nil
		}
	}
	return nil
}

// SpliceFrom implements engine.FileTransferSplice: ReadFrom splices when
// the upload is written to a file on disk, not appended.
func (q *quotaUpload) SpliceFrom() bool { return q.spliceTarget() != nil }

// ReadFrom writes what r holds at the current offset within the quota.
// The engine calls it with each chunk of the data connection, an
// *io.LimitedReader over the socket (engine.FileTransferSplice). Each
// step first reserves what it may write (at most spliceStep of the chunk,
// in one takeBytes call), then lets the file's own ReadFrom splice at
// most that many bytes through ONE *io.LimitedReader over the socket
// (Go's splice looks through one only), then gives back what it reserved
// and did not write (shrink; in a cluster to allow, which returnUnused
// gives back at the end). A step the quota no longer has room for goes
// through Write instead, which reserves only bytes that arrived: an
// upload near the edge takes nothing ahead from the others, and the one
// that passes the quota gets 552 with no byte past it written. Any
// other reader, or a file splice cannot write to, goes through Write.
func (q *quotaUpload) ReadFrom(r io.Reader) (int64, error) {
	lr, ok := r.(*io.LimitedReader)
	of := q.spliceTarget()
	if !ok || of == nil {
		return io.Copy(writerOnly{q}, r)
	}
	g := q.c.g
	var total int64
	var buf []byte
	for lr.N > 0 {
		want := min(lr.N, spliceStep)
		if g.shared != nil && g.step > 0 {
			want = min(want, g.step)
		}
		before := q.size
		if end := q.pos + want; end > q.size {
			err := g.takeBytes(end-q.size, &q.allow)
			if errors.Is(err, errQuotaBytes) {
				if buf == nil {
					buf = make([]byte, edgeBuffer)
				}
				n, err := io.CopyBuffer(writerOnly{q}, &io.LimitedReader{R: lr, N: want}, buf)
				total += n
				if err != nil || n < want {
					return total, err
				}
				continue
			}
			if err != nil {
				return total, err
			}
			q.size = end
		}
		reservedEnd := q.size
		n, err := of.ReadFrom(&io.LimitedReader{R: lr.R, N: want})
		lr.N -= n
		q.shrink(reservedEnd, q.pos+n, before)
		q.pos += n
		total += n
		if err != nil || n < want {
			return total, err
		}
	}
	return total, nil
}

// writerOnly hides a writer's ReadFrom, so that io.Copy uses Write.
type writerOnly struct{ io.Writer }

// grow reserves what a write of n bytes at off adds to the file.
func (q *quotaUpload) grow(off int64, n int) error {
	end := off + int64(n)
	if end <= q.size {
		return nil
	}
	if err := q.c.g.takeBytes(end-q.size, &q.allow); err != nil {
		return err
	}
	q.size = end
	return nil
}

// shrink gives back what a write reserved past the bytes it wrote.
func (q *quotaUpload) shrink(reservedEnd, writtenEnd, before int64) {
	if writtenEnd >= reservedEnd || reservedEnd <= before {
		return
	}
	keep := max(writtenEnd, before)
	q.c.g.u.release(reservedEnd-keep, 0)
	if q.c.g.shared != nil {
		q.allow += reservedEnd - keep
	}
	q.size = keep
}

// Write writes at the current offset within the quota.
func (q *quotaUpload) Write(p []byte) (int, error) {
	before := q.size
	if err := q.grow(q.pos, len(p)); err != nil {
		return 0, err
	}
	reservedEnd := q.size
	n, err := q.File.Write(p)
	q.shrink(reservedEnd, q.pos+int64(n), before)
	q.pos += int64(n)
	return n, err
}

// WriteAt writes at off within the quota.
func (q *quotaUpload) WriteAt(p []byte, off int64) (int, error) {
	before := q.size
	if err := q.grow(off, len(p)); err != nil {
		return 0, err
	}
	reservedEnd := q.size
	n, err := q.File.WriteAt(p, off)
	q.shrink(reservedEnd, off+int64(n), before)
	return n, err
}

// WriteString writes s within the quota.
func (q *quotaUpload) WriteString(s string) (int, error) { return q.Write([]byte(s)) }

// Seek moves the offset writes go to.
func (q *quotaUpload) Seek(offset int64, whence int) (int64, error) {
	n, err := q.File.Seek(offset, whence)
	if err == nil {
		q.pos = n
	}
	return n, err
}

// Truncate changes the length, counting it against the quota (REST+STOR
// drops the tail past its offset when it starts).
func (q *quotaUpload) Truncate(size int64) error {
	if size > q.size {
		if err := q.c.g.takeBytes(size-q.size, &q.allow); err != nil {
			return err
		}
	} else {
		q.c.g.giveBack(q.size-size, 0)
	}
	q.size = size
	return q.File.Truncate(size)
}

// TransferError marks the upload failed, so Close discards it.
func (q *quotaUpload) TransferError(error) { q.c.failed = true }

// Close ends the upload (uploadCore.finish).
func (q *quotaUpload) Close() error { return q.c.finish(q.File) }

// The engine interfaces the upload handles implement.
var (
	_ engine.FileTransferError  = (*directUpload)(nil)
	_ engine.FileTransferError  = (*quotaUpload)(nil)
	_ engine.FileTransferDirect = (*directUpload)(nil)
	_ engine.FileTransferSplice = (*quotaUpload)(nil)
)
