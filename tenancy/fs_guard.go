package tenancy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
)

// guardFs is one session's filesystem: the user's home within the tenant's
// storage (inner is already rooted there), with the user's rights checked
// by path prefix before every call and the tenant's quota counted on every
// change. A refusal is a 550 *engine.ReplyError that names the right that
// is missing.
//
// Every name is first resolved (guard_paths.go resolve): rights are
// checked on the path the operation really reaches, links followed, and
// that link-free path is what inner is given; inner (rootFs) follows no
// link itself, so what was checked is what is touched.
type guardFs struct {
	inner    afero.Fs
	rules    []PermissionConfig
	readOnly bool
	u        *usage
	maxBytes int64 // 0: no byte quota
	maxFiles int64 // 0: no file quota
	// shared is the cluster's usage store for a tenant with a byte quota
	// (Driver.ShareQuota), nil otherwise; tenant names the tenant there
	// and step is what an upload reserves in it at a time.
	shared QuotaStore
	tenant string
	step   int64
	kick   func() // asks for a count of the shared usage at once
	// free is the space left on the filesystem holding a directory of
	// the user's home (os backend), AVBL's answer without a byte quota;
	// nil: unknown.
	free func(dir string) (int64, error)
	// needTLS refuses transfers over clear data connections.
	needTLS func() bool

	// home is the user's home in the tenant's storage, for the caps on
	// new paths (checkCreate); maxDepth and maxLength are those caps (0:
	// the defaults).
	home                string
	maxDepth, maxLength int
}

// check returns a 550 unless the user has right at name; a name with a
// reserved element (the server's own files) gets 553 whatever the rights.
func (g *guardFs) check(name string, right Perm) error {
	if err := checkReserved(name); err != nil {
		return err
	}
	name = cleanAbs(name)
	if g.readOnly && right&permWrite != 0 {
		return &engine.ReplyError{Code: 550, Message: name + ": permission denied: this storage is read-only."}
	}
	if permissionsFor(g.rules, name)&right == 0 {
		return &engine.ReplyError{Code: 550, Message: fmt.Sprintf("%s: permission denied: you lack the %q right here.", name, right.String())}
	}
	return nil
}

// checkAny returns a 550 unless the user has some right at name, and 553
// for a reserved name.
func (g *guardFs) checkAny(name string) error {
	if err := checkReserved(name); err != nil {
		return err
	}
	name = cleanAbs(name)
	if permissionsFor(g.rules, name) == 0 {
		return &engine.ReplyError{Code: 550, Message: name + ": permission denied: you have no rights here."}
	}
	return nil
}

// Name returns "tenancy".
func (g *guardFs) Name() string { return "tenancy" }

// Create creates or truncates name for writing.
func (g *guardFs) Create(name string) (afero.File, error) {
	return g.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Mkdir needs the mkdir right.
func (g *guardFs) Mkdir(name string, perm os.FileMode) error {
	name, err := g.resolve(name, false)
	if err != nil {
		return err
	}
	if err := g.check(name, PermMkdir); err != nil {
		return err
	}
	if err := g.checkCreate(name); err != nil {
		return err
	}
	return g.mkdirCounted(name, perm)
}

// MkdirAll needs the mkdir right where it makes directories.
func (g *guardFs) MkdirAll(name string, perm os.FileMode) error {
	name, err := g.resolve(name, true)
	if err != nil {
		return err
	}
	if err := g.checkMkdirAll(name); err != nil {
		return err
	}
	return g.mkdirAllCounted(name, perm)
}

// Open opens for reading: a directory needs list, a file download.
func (g *guardFs) Open(name string) (afero.File, error) {
	return g.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile checks the rights the flags call for; an upload then goes
// through openUpload (upload.go: a temporary file renamed into place, or
// in place for a resumption, counted against the quota).
func (g *guardFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	name, end, err := g.resolveEnd(name, true)
	if err != nil {
		return nil, err
	}
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC) == 0 {
		return g.openRead(name, end)
	}
	if g.needTLS != nil && g.needTLS() {
		return nil, errNeedPROT
	}
	fi, exists, err := g.statEnd(name, end)
	if err != nil {
		return nil, err
	}
	if exists && fi.IsDir() {
		return nil, &engine.ReplyError{Code: 550, Message: cleanAbs(name) + ": is a directory."}
	}
	var right Perm
	switch {
	case !exists:
		right = PermUpload
	case flag&os.O_APPEND != 0:
		right = PermAppend
	default:
		right = PermOverwrite
	}
	if err := g.check(name, right); err != nil {
		return nil, err
	}
	if exists && !fi.Mode().IsRegular() && flag&(os.O_TRUNC|os.O_EXCL) == 0 {
		// An upload in place (APPE, REST+STOR) would open and write into
		// a FIFO, socket or device someone put there outside FTP: the
		// bytes would go to whatever reads it, or nowhere, under a 226.
		// A plain STOR replaces such a node without opening it.
		return nil, errNotRegular(name)
	}
	if !exists && flag&os.O_CREATE == 0 {
		return nil, os.ErrNotExist
	}
	if !exists {
		if err := g.checkCreate(name); err != nil {
			return nil, err
		}
	}
	if !exists {
		fi = nil
	}
	return g.openUpload(name, flag, perm, fi)
}

// special reports whether fi is neither a regular file nor a directory.
func special(fi os.FileInfo) bool {
	return !fi.Mode().IsRegular() && !fi.IsDir()
}

// errNotRegular refuses to open for reading, or to write in place into,
// a FIFO, socket or device (special), in the words the engine uses for
// RETR and SIZE.
func errNotRegular(name string) error {
	return &engine.ReplyError{Code: 550, Message: cleanAbs(name) + ": not a regular file."}
}

// RequireProtectedData implements engine.ClientDriverExtensionProtectedData:
// a TLS-required user's listings, like its file transfers, need PROT P.
func (g *guardFs) RequireProtectedData() bool { return g.needTLS != nil }

// errNeedPROT refuses a transfer over a clear data connection for a user
// who must use TLS.
var errNeedPROT = &engine.ReplyError{Code: 521, Message: "Data connections must be protected for this user: send PROT P."}

// statEnd returns what is at name (resolved): what resolution saw there
// (end) when it looked, otherwise inner's answer; exists is false for
// nothing there.
func (g *guardFs) statEnd(name string, end pathEnd) (fi os.FileInfo, exists bool, err error) {
	switch {
	case end.fi != nil:
		return end.fi, true, nil
	case end.absent:
		return nil, false, nil
	}
	fi, err = g.inner.Stat(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return fi, true, nil
}

// statOpener is a backend that opens a file for reading and returns the
// handle's stat with it (rootFs.openStat).
type statOpener interface {
	openStat(name string) (*os.File, os.FileInfo, error)
}

// openRead opens a directory (list) or a file (download). The type that
// decides the right is what resolution saw (end), and, on a backend that
// says, what was opened is checked to be of that type, so an entry that
// changed type in between needs the right of what it became.
func (g *guardFs) openRead(name string, end pathEnd) (afero.File, error) {
	f, _, err := g.openReadStat(name, end)
	return f, err
}

// openReadStat is openRead that also returns what was opened: the
// handle's stat on a backend that gives it (statOpener), otherwise what
// resolution or a Stat saw.
func (g *guardFs) openReadStat(name string, end pathEnd) (afero.File, os.FileInfo, error) {
	fi := end.fi
	if fi == nil {
		var err error
		if fi, err = g.inner.Stat(name); err != nil {
			if cerr := g.checkAny(name); cerr != nil {
				return nil, nil, cerr
			}
			return nil, nil, err
		}
	}
	if err := g.readRight(name, fi.IsDir()); err != nil {
		return nil, nil, err
	}
	if special(fi) {
		// No verb reads a FIFO, socket or device (RETR, HASH and COMB
		// refuse them): opening one someone put there outside FTP could
		// only wait on a peer or touch a device.
		return nil, nil, errNotRegular(name)
	}
	so, ok := g.inner.(statOpener)
	if !ok {
		f, err := hideReserved(g.inner.Open(name))
		return f, fi, err
	}
	f, got, err := so.openStat(name)
	if err != nil {
		return nil, nil, err
	}
	if got.IsDir() != fi.IsDir() {
		if err := g.readRight(name, got.IsDir()); err != nil {
			_ = f.Close()
			return nil, nil, err
		}
	}
	if special(got) {
		// Swapped in after resolution: a read of it (HASH's, after its
		// Stat saw a file) would wait for a writer that may never write.
		_ = f.Close()
		return nil, nil, errNotRegular(name)
	}
	if got.IsDir() {
		// hideReserved's wrapper, without its second stat.
		return &hidingDir{File: f}, got, nil
	}
	return f, got, nil
}

// OpenRead implements engine.ClientDriverExtensionOpenRead: RETR's Stat and
// open in one resolution. What is not a regular file is reported as the
// Stat would (any right at name suffices to learn it), without opening.
func (g *guardFs) OpenRead(name string) (engine.FileTransfer, os.FileInfo, error) {
	name, end, err := g.resolveEnd(name, true)
	if err != nil {
		return nil, nil, err
	}
	if err := g.checkAny(name); err != nil {
		return nil, nil, err
	}
	if end.fi == nil {
		if end.fi, err = g.inner.Stat(name); err != nil {
			return nil, nil, err
		}
	}
	if !end.fi.Mode().IsRegular() {
		return nil, end.fi, nil
	}
	f, fi, err := g.openReadStat(name, end)
	if err != nil {
		return nil, nil, err
	}
	return f, fi, nil
}

// readRight checks what reading name needs: the list right for a
// directory; for a file the download right, and PROT P for a user who
// must use TLS.
func (g *guardFs) readRight(name string, dir bool) error {
	right := PermDownload
	if dir {
		right = PermList
	}
	if err := g.check(name, right); err != nil {
		return err
	}
	if !dir && g.needTLS != nil && g.needTLS() {
		return errNeedPROT
	}
	return nil
}

// Remove needs rmdir for a directory and delete for a file, and gives
// back to the quota what it removes. A link goes itself, not its target.
func (g *guardFs) Remove(name string) error {
	p, err := g.removable(name)
	if err != nil {
		return err
	}
	return g.removeCounted(p)
}

// CheckRemove implements engine.ClientDriverExtensionRemoveCheck.
func (g *guardFs) CheckRemove(name string) error {
	_, err := g.removable(name)
	return err
}

// removable resolves name as Remove does and checks the right removing it
// needs, returning the resolved path.
func (g *guardFs) removable(name string) (string, error) {
	name, end, err := g.resolveEnd(name, false)
	if err != nil {
		return "", err
	}
	fi := end.fi // the entry itself: resolved without following its end
	if fi == nil {
		if fi, err = g.lstat(name); err != nil {
			return "", err
		}
	}
	right := PermDelete
	if fi.IsDir() {
		right = PermRmdir
	}
	return name, g.check(name, right)
}

// RemoveAll needs both rmdir and delete, and recounts what it removed.
func (g *guardFs) RemoveAll(name string) error {
	name, err := g.resolve(name, false)
	if err != nil {
		return err
	}
	if err := g.check(name, PermRmdir|PermDelete); err != nil {
		return err
	}
	if permissionsFor(g.rules, cleanAbs(name))&(PermRmdir|PermDelete) != PermRmdir|PermDelete {
		return &engine.ReplyError{Code: 550, Message: cleanAbs(name) + ": permission denied: removing a tree needs both the delete and rmdir rights."}
	}
	return g.removeAllCounted(name)
}

// Rename needs the rename right at both ends; an entry it replaces is
// given back. Links at either end are renamed or replaced themselves.
func (g *guardFs) Rename(oldname, newname string) error {
	oldname, err := g.resolve(oldname, false)
	if err != nil {
		return err
	}
	newname, err = g.resolve(newname, false)
	if err != nil {
		return err
	}
	if err := g.check(oldname, PermRename); err != nil {
		return err
	}
	if err := g.check(newname, PermRename); err != nil {
		return err
	}
	if err := g.checkMove(oldname, newname); err != nil {
		return err
	}
	return g.renameCounted(oldname, newname)
}

// Stat needs some right at name. The answer is the lstat resolution made
// of the path's last element (no link there, as links are followed) when
// it made one: asking again would only ask the same question a few
// microseconds later, and an answer changes nothing on disk.
func (g *guardFs) Stat(name string) (os.FileInfo, error) {
	name, end, err := g.resolveEnd(name, true)
	if err != nil {
		return nil, err
	}
	if err := g.checkAny(name); err != nil {
		return nil, err
	}
	if end.fi != nil {
		return end.fi, nil
	}
	return g.inner.Stat(name)
}

// lstat returns name's own information when the inner fs can tell.
func (g *guardFs) lstat(name string) (os.FileInfo, error) {
	if ls, ok := g.inner.(afero.Lstater); ok {
		fi, _, err := ls.LstatIfPossible(name)
		return fi, err
	}
	return g.inner.Stat(name)
}

// LstatIfPossible needs some right at name.
func (g *guardFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	name, end, err := g.resolveEnd(name, false)
	if err != nil {
		return nil, false, err
	}
	if err := g.checkAny(name); err != nil {
		return nil, false, err
	}
	if end.fi != nil {
		// Resolution's lstat of the entry itself (see Stat).
		return end.fi, true, nil
	}
	if ls, ok := g.inner.(afero.Lstater); ok {
		return ls.LstatIfPossible(name)
	}
	fi, err := g.inner.Stat(name)
	return fi, false, err
}

// ReadlinkIfPossible needs the list right.
func (g *guardFs) ReadlinkIfPossible(name string) (string, error) {
	name, err := g.resolve(name, false)
	if err != nil {
		return "", err
	}
	if err := g.check(name, PermList); err != nil {
		return "", err
	}
	if lr, ok := g.inner.(afero.LinkReader); ok {
		return lr.ReadlinkIfPossible(name)
	}
	return "", &os.PathError{Op: "readlink", Path: name, Err: afero.ErrNoReadlink}
}

// Chmod needs the chmod right, and a mode that keeps the owner's bits
// (checkChmod); the user's root keeps its mode.
func (g *guardFs) Chmod(name string, mode os.FileMode) error {
	name, err := g.resolve(name, true)
	if err != nil {
		return err
	}
	if err := g.check(name, PermChmod); err != nil {
		return err
	}
	if err := g.checkChmod(name, mode); err != nil {
		return err
	}
	return g.inner.Chmod(name, mode)
}

// Chown needs the chown right, which "all" does not grant; the user's
// root keeps its owner.
func (g *guardFs) Chown(name string, uid, gid int) error {
	name, err := g.resolve(name, true)
	if err != nil {
		return err
	}
	if err := g.check(name, PermChown); err != nil {
		return err
	}
	if name == "/" {
		return errRootMode("owner")
	}
	return g.inner.Chown(name, uid, gid)
}

// Chtimes needs the chmod right.
func (g *guardFs) Chtimes(name string, atime, mtime time.Time) error {
	name, err := g.resolve(name, true)
	if err != nil {
		return err
	}
	if err := g.check(name, PermChmod); err != nil {
		return err
	}
	return g.inner.Chtimes(name, atime, mtime)
}

// Symlink needs the symlink right at the new name (which "all" does not
// grant), some right where the link leads, and a backend that has links
// (os).
func (g *guardFs) Symlink(oldname, newname string) error {
	newname, err := g.resolve(newname, false)
	if err != nil {
		return err
	}
	if err := g.check(newname, PermSymlink); err != nil {
		return err
	}
	if err := g.checkCreate(newname); err != nil {
		return err
	}
	if err := g.checkLinkTarget(oldname); err != nil {
		return err
	}
	return g.symlinkCounted(oldname, newname)
}

// GetAvailableSpace answers AVBL with what the tenant's byte quota
// leaves; without a byte quota, with the space left on the filesystem of
// an os-backed home, as `ftpgate serve --root` answers.
func (g *guardFs) GetAvailableSpace(dir string) (int64, error) {
	if g.maxBytes == 0 {
		if g.free == nil {
			return 0, &engine.ReplyError{Code: 550, Message: "No quota is set: the space available is unknown."}
		}
		p, err := g.resolve(dir, true)
		if err != nil {
			return 0, err
		}
		return g.free(p)
	}
	if err := g.u.admit(true); err != nil {
		return 0, err
	}
	used, _ := g.u.snapshot()
	if g.shared != nil {
		if rq, ok := g.shared.(interface {
			Used(context.Context, string) (int64, error)
		}); ok {
			if n, err := rq.Used(context.Background(), g.tenant); err == nil {
				used = n
			}
		}
	}
	return max(g.maxBytes-used, 0), nil
}
