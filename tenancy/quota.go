package tenancy

import (
	"errors"
	"io/fs"
	"os"
	"sync"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
)

// errQuotaBytes and errQuotaFiles refuse what would pass a tenant's quota;
// 552 is RFC 959's "exceeded storage allocation".
var (
	errQuotaBytes = &engine.ReplyError{Code: 552, Message: "Quota exceeded: the tenant's storage allowance is used up."}
	errQuotaFiles = &engine.ReplyError{Code: 552, Message: "Quota exceeded: the tenant may not store more files."}
)

// usage is a tenant's storage use, shared by all its sessions. It is not
// stored anywhere: it is recomputed by walking the tenant's tree whenever
// the storage is opened (at start and when a reload changes it), so it
// cannot disagree with what is on disk after a crash.
type usage struct {
	mu    sync.Mutex
	bytes int64
	files int64
}

// walkUsage counts the regular files below the root of fsys and their
// bytes, without following links.
func walkUsage(fsys afero.Fs) (bytes, files int64, err error) {
	err = afero.Walk(fsys, "/", func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if fi.Mode().IsRegular() {
			bytes += fi.Size()
			files++
		}
		return nil
	})
	return bytes, files, err
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

// quotaFile is an upload handle of a tenant with a byte quota: each write
// first reserves the bytes by which it grows the file, and one that would
// pass the quota fails with 552. On a failed transfer (FileTransferError),
// a file the upload created is removed and a file it appended to is cut
// back to its old length, so a refused upload leaves no partial data and
// frees what it used.
type quotaFile struct {
	afero.File
	fs        afero.Fs // the tenant-side filesystem the file is in
	name      string   // path within fs
	u         *usage
	maxBytes  int64
	size      int64 // current length as far as this handle knows
	pos       int64
	origSize  int64 // length at open, to cut back to
	created   bool  // the upload created the file
	failed    bool
	closeOnce sync.Once
}

// grow reserves what a write of n bytes at off adds to the file.
func (q *quotaFile) grow(off int64, n int) error {
	end := off + int64(n)
	if end <= q.size {
		return nil
	}
	if err := q.u.reserve(end-q.size, 0, q.maxBytes, 0); err != nil {
		return err
	}
	q.size = end
	return nil
}

// Write writes at the current offset within the quota.
func (q *quotaFile) Write(p []byte) (int, error) {
	if err := q.grow(q.pos, len(p)); err != nil {
		return 0, err
	}
	n, err := q.File.Write(p)
	q.pos += int64(n)
	return n, err
}

// WriteAt writes at off within the quota.
func (q *quotaFile) WriteAt(p []byte, off int64) (int, error) {
	if err := q.grow(off, len(p)); err != nil {
		return 0, err
	}
	return q.File.WriteAt(p, off)
}

// WriteString writes s within the quota.
func (q *quotaFile) WriteString(s string) (int, error) { return q.Write([]byte(s)) }

// Seek moves the offset writes go to.
func (q *quotaFile) Seek(offset int64, whence int) (int64, error) {
	n, err := q.File.Seek(offset, whence)
	if err == nil {
		q.pos = n
	}
	return n, err
}

// Truncate changes the length, counting it against the quota.
func (q *quotaFile) Truncate(size int64) error {
	if size > q.size {
		if err := q.u.reserve(size-q.size, 0, q.maxBytes, 0); err != nil {
			return err
		}
	} else {
		q.u.release(q.size-size, 0)
	}
	q.size = size
	return q.File.Truncate(size)
}

// TransferError marks the upload failed, so Close undoes it.
func (q *quotaFile) TransferError(error) { q.failed = true }

// Close closes the file and, after a failed upload, removes it or cuts it
// back and gives its bytes back to the quota.
func (q *quotaFile) Close() error {
	err := q.File.Close()
	q.closeOnce.Do(func() {
		if !q.failed {
			return
		}
		if q.created {
			if rerr := q.fs.Remove(q.name); rerr == nil || isNotExist(rerr) {
				q.u.release(q.size, 1)
			}
			return
		}
		if q.size > q.origSize {
			if f, oerr := q.fs.OpenFile(q.name, os.O_WRONLY, 0); oerr == nil {
				if f.Truncate(q.origSize) == nil {
					q.u.release(q.size-q.origSize, 0)
				}
				_ = f.Close()
			}
		}
	})
	return err
}

// isNotExist reports a missing file.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
