package tenancy

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/afero"
)

// rootFs is an afero.Fs over an os.Root that never follows a symbolic
// link: every name it is given must already be resolved (see resolve in
// realpath.go), and it walks the name's directory part again one element
// at a time through directory handles, refusing any element that is a
// link, so the directory it acts in is the one at that link-free path at
// that moment. A link that appears after the caller resolved and checked
// the name is refused with errPathChanged rather than followed, which is
// what keeps a user who can make links from swapping a checked directory
// for one elsewhere between the check and the use. The os.Root still
// keeps everything inside the root whatever happens.
//
// Files come back as *os.File, which the engine hands to io.Copy so that
// sendfile and splice still apply. Link-following access for programs
// that have no rights to check is NewRootFs.
type rootFs struct {
	root *os.Root
	// onStat, set only by tests, is told of each stat-family system
	// call rootFs makes itself ("lstat" by name, "fstat" of a handle), so
	// that a test can hold the count per operation down (issue 17); nil,
	// as everywhere else, costs a comparison.
	onStat func(call string)
	// keepDot makes replaceFile keep its handle on root's own directory
	// (dot) from the first replacing upload until Close, instead of
	// opening and closing one per upload (an open, a failed epoll
	// registration and a close: issue 17). Only a session's home sets it:
	// the session closes it at its end, so it costs a descriptor per
	// session that replaced a file, and none for one that did not.
	keepDot bool
	dotMu   sync.Mutex
	dot     *os.File
	closed  bool // Close ran: dot is not opened again
}

// dotDir returns a handle on root's own directory for replaceFile and
// the function that gives it back: the kept one (keepDot), else a new one
// closed by that function.
func (r *rootFs) dotDir() (*os.File, func(), error) {
	r.dotMu.Lock()
	defer r.dotMu.Unlock()
	if r.dot != nil {
		return r.dot, func() {}, nil
	}
	r.note("opendot")
	f, err := openNonblocking(r.root, ".", os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	if r.keepDot && !r.closed {
		r.dot = f
		return f, func() {}, nil
	}
	return f, func() { _ = f.Close() }, nil
}

// Close closes the kept directory handle, if any, and the root. A
// replaceFile still running on the handle finishes first: an *os.File's
// close waits for the calls using it.
func (r *rootFs) Close() error {
	r.dotMu.Lock()
	dot := r.dot
	r.dot, r.closed = nil, true
	r.dotMu.Unlock()
	if dot != nil {
		_ = dot.Close()
	}
	return r.root.Close()
}

// note tells onStat of a call.
func (r *rootFs) note(call string) {
	if r.onStat != nil {
		r.onStat(call)
	}
}

// lstatIn is dir.Lstat(name), counted.
func (r *rootFs) lstatIn(dir *os.Root, name string) (os.FileInfo, error) {
	r.note("lstat")
	return dir.Lstat(name)
}

// fstat is f.Stat(), counted.
func (r *rootFs) fstat(f *os.File) (os.FileInfo, error) {
	r.note("fstat")
	return f.Stat()
}

// rel turns the engine's absolute slash path into the root-relative name
// os.Root wants.
func rel(name string) string {
	n := path.Clean("/" + name)
	if n == "/" {
		return "."
	}
	return n[1:]
}

// elements returns the elements of a clean absolute path; none for "/".
func elements(name string) []string {
	n := rel(name)
	if n == "." {
		return nil
	}
	return strings.Split(n, "/")
}

// openDirNoFollow opens the directory c (one element) inside cur,
// refusing a link, and checks that what it opened is the directory lstat
// saw, so a swap between the two calls is refused too. Both calls stay:
// os.Root's OpenRoot follows a link that appears between them, and only
// the two together tell.
func (r *rootFs) openDirNoFollow(cur *os.Root, c string) (*os.Root, error) {
	fi, err := r.lstatIn(cur, c)
	if err != nil {
		return nil, err
	}
	return r.openDirSeen(cur, c, fi)
}

// openDirSeen is openDirNoFollow for a caller that has just lstat'ed c
// itself (resolve): fi is that lstat, and nothing but in-process checks
// came between it and this open, so asking again would only put one more
// system call into the same window; the handle is still checked against
// fi.
func (r *rootFs) openDirSeen(cur *os.Root, c string, fi os.FileInfo) (*os.Root, error) {
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, errPathChanged
	}
	if !fi.IsDir() {
		return nil, &os.PathError{Op: "open", Path: c, Err: syscall.ENOTDIR}
	}
	next, err := cur.OpenRoot(c)
	if err != nil {
		return nil, err
	}
	r.note("fstat")
	got, err := next.Stat(".")
	if err != nil || !os.SameFile(fi, got) {
		_ = next.Close()
		return nil, errPathChanged
	}
	return next, nil
}

// parent opens the directory holding name's last element without
// following links, and returns it with that element ("." for the root).
// Call done when finished with dir.
func (r *rootFs) parent(name string) (dir *os.Root, base string, done func(), err error) {
	parts := elements(name)
	if len(parts) == 0 {
		return r.root, ".", func() {}, nil
	}
	cur := r.root
	for _, c := range parts[:len(parts)-1] {
		next, err := r.openDirNoFollow(cur, c)
		if cur != r.root {
			_ = cur.Close()
		}
		if err != nil {
			return nil, "", nil, err
		}
		cur = next
	}
	if cur == r.root {
		return cur, parts[len(parts)-1], func() {}, nil
	}
	return cur, parts[len(parts)-1], func() { _ = cur.Close() }, nil
}

// notLink returns errPathChanged when base in dir is a symbolic link: the
// caller resolved it to something that is not one.
func (r *rootFs) notLink(dir *os.Root, base string) (os.FileInfo, error) {
	fi, err := r.lstatIn(dir, base)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, errPathChanged
	}
	return fi, nil
}

// Name returns "rootFs".
func (r *rootFs) Name() string { return "rootFs" }

// Create creates or truncates name.
func (r *rootFs) Create(name string) (afero.File, error) {
	return r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Mkdir creates a directory; a link at name counts as existing.
func (r *rootFs) Mkdir(name string, perm os.FileMode) error {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return err
	}
	defer done()
	return dir.Mkdir(base, perm)
}

// MkdirAll creates a directory and its missing parents, following no
// link on the way.
func (r *rootFs) MkdirAll(name string, perm os.FileMode) error {
	cur := r.root
	defer func() {
		if cur != r.root {
			_ = cur.Close()
		}
	}()
	for _, c := range elements(name) {
		if err := cur.Mkdir(c, perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		next, err := r.openDirNoFollow(cur, c)
		if err != nil {
			return err
		}
		if cur != r.root {
			_ = cur.Close()
		}
		cur = next
	}
	return nil
}

// Open opens name for reading.
func (r *rootFs) Open(name string) (afero.File, error) {
	return r.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile opens name with os.OpenFile flags, without following a link
// at its last element either: a new file is made with O_EXCL (which
// os.Root never follows), an existing one is opened without O_TRUNC,
// checked to be the file lstat sees and no link, and only then cut.
func (r *rootFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return nil, err
	}
	defer done()
	if flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
		f, err := openNonblocking(dir, base, flag, perm)
		if err != nil {
			return nil, err // no typed nil in the interface
		}
		return f, nil
	}
	// A name made or removed by another session between the two tries
	// sends the loop round again; three rounds are plenty for anything
	// but a deliberate race, which then fails.
	for range 3 {
		f, _, err := r.openVerified(dir, base, flag&^(os.O_CREATE|os.O_TRUNC))
		if errors.Is(err, fs.ErrNotExist) && flag&os.O_CREATE != 0 {
			f, err = openNonblocking(dir, base, flag|os.O_EXCL, perm)
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return f, nil
		}
		if err != nil {
			return nil, err
		}
		if flag&os.O_TRUNC != 0 && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			if err := f.Truncate(0); err != nil {
				_ = f.Close()
				return nil, err
			}
		}
		return f, nil
	}
	return nil, errPathChanged
}

// openVerified opens base in dir and checks that the open file is the
// one lstat sees there and that base is no link; it returns the handle's
// own stat, which callers use instead of asking again.
//
// The lstat after the open guards a real race and stays: os.Root's open
// follows a link it meets at base (within the root), so a link swapped in
// between the caller's check and the open would otherwise hand over the
// file it leads to. Comparing the handle with the lstat resolution made
// before the open would not do: that file may be gone and its inode number
// reused by the one the link leads to, whereas the handle held here pins
// the opened inode while the lstat looks.
func (r *rootFs) openVerified(dir *os.Root, base string, flag int) (*os.File, os.FileInfo, error) {
	f, err := openNonblocking(dir, base, flag, 0)
	if err != nil {
		return nil, nil, err
	}
	got, err := r.fstat(f)
	if err == nil {
		var fi os.FileInfo
		if fi, err = r.notLink(dir, base); err == nil && !os.SameFile(fi, got) {
			err = errPathChanged
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, got, nil
}

// openStat opens name read-only as Open does (no link followed, the file
// lstat sees) and returns the handle's stat with it: its type says
// whether the rights checked were the right ones, without another call.
func (r *rootFs) openStat(name string) (*os.File, os.FileInfo, error) {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	return r.openVerified(dir, base, os.O_RDONLY)
}

// Remove removes a file, a link or an empty directory; a link itself goes,
// not what it points to.
func (r *rootFs) Remove(name string) error {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return err
	}
	defer done()
	if base == "." {
		return errors.New("refusing to remove the root")
	}
	return dir.Remove(base)
}

// RemoveAll removes name and everything below it, links as links.
func (r *rootFs) RemoveAll(name string) error {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return err
	}
	defer done()
	if base == "." {
		return errors.New("refusing to remove the root")
	}
	return dir.RemoveAll(base)
}

// Rename renames a file, link or directory. Both directories are walked
// without following links; renameAt then acts on the two handles.
func (r *rootFs) Rename(oldname, newname string) error {
	odir, obase, odone, err := r.parent(oldname)
	if err != nil {
		return err
	}
	defer odone()
	ndir, nbase, ndone, err := r.parent(newname)
	if err != nil {
		return err
	}
	defer ndone()
	if obase == "." || nbase == "." {
		return errors.New("refusing to rename the root")
	}
	return r.renameAt(odir, obase, ndir, nbase, oldname, newname)
}

// Stat returns name's information. name is resolved, so a link at its
// end is one that appeared since: refused, not followed.
func (r *rootFs) Stat(name string) (os.FileInfo, error) {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return nil, err
	}
	defer done()
	return r.notLink(dir, base)
}

// LstatIfPossible returns name's own information.
func (r *rootFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return nil, true, err
	}
	defer done()
	fi, err := r.lstatIn(dir, base)
	return fi, true, err
}

// ReadlinkIfPossible returns a link's target, for LIST.
func (r *rootFs) ReadlinkIfPossible(name string) (string, error) {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return "", err
	}
	defer done()
	return dir.Readlink(base)
}

// Chmod changes a mode through a verified handle (fchmod), so a link
// swapped in is never followed. Directories keep the owner's rwx and
// files the owner's rw (ownerModeError), checked on that same handle.
func (r *rootFs) Chmod(name string, mode os.FileMode) error {
	return r.onHandle(name, func(f *os.File, fi os.FileInfo) error {
		if err := ownerModeError(name, fi.IsDir(), mode); err != nil {
			return err
		}
		return f.Chmod(mode)
	}, func(dir *os.Root, base string, fi os.FileInfo) error {
		if err := ownerModeError(name, fi.IsDir(), mode); err != nil {
			return err
		}
		return dir.Chmod(base, mode)
	})
}

// Chown changes an owner through a verified handle (fchown).
func (r *rootFs) Chown(name string, uid, gid int) error {
	return r.onHandle(name, func(f *os.File, _ os.FileInfo) error {
		return f.Chown(uid, gid)
	}, func(dir *os.Root, base string, _ os.FileInfo) error {
		return dir.Chown(base, uid, gid)
	})
}

// onHandle runs viaFile on name opened read-only and verified (no link,
// the file lstat sees). A file the server may not open (no read
// permission for it) falls back to byName after a last check that name is
// no link: the window between that check and the call is one system call,
// inside name's own directory (see RATIONALE.md).
func (r *rootFs) onHandle(name string, viaFile func(*os.File, os.FileInfo) error, byName func(*os.Root, string, os.FileInfo) error) error {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return err
	}
	defer done()
	f, fi, err := r.openVerified(dir, base, os.O_RDONLY)
	if err == nil {
		defer f.Close()
		return viaFile(f, fi)
	}
	if !errors.Is(err, fs.ErrPermission) {
		return err
	}
	fi, err = r.notLink(dir, base)
	if err != nil {
		return err
	}
	return byName(dir, base, fi)
}

// Chtimes changes times, after a check that name is no link (see
// onHandle for the window left).
func (r *rootFs) Chtimes(name string, atime, mtime time.Time) error {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return err
	}
	defer done()
	if _, err := r.notLink(dir, base); err != nil {
		return err
	}
	return dir.Chtimes(base, atime, mtime)
}

// Symlink makes newname a link to oldname, both absolute paths within the
// root. The link stores a relative target, since os.Root refuses to follow
// absolute ones.
func (r *rootFs) Symlink(oldname, newname string) error {
	target, err := relativeTarget(path.Clean("/"+oldname), path.Clean("/"+newname))
	if err != nil {
		return err
	}
	dir, base, done, err := r.parent(newname)
	if err != nil {
		return err
	}
	defer done()
	if base == "." {
		return errors.New("refusing to replace the root")
	}
	return dir.Symlink(target, base)
}

// relativeTarget returns oldname relative to newname's directory.
func relativeTarget(oldname, newname string) (string, error) {
	dir := path.Dir(newname)
	if dir == "/" {
		return rel(oldname), nil
	}
	up := ""
	for d := dir; d != "/"; d = path.Dir(d) {
		if hasPathPrefix(oldname, d) {
			tail := oldname[len(d):]
			if tail == "" {
				tail = "/."
			}
			return up + tail[1:], nil
		}
		up += "../"
	}
	return up + oldname[1:], nil
}

// openRoot opens the directory name as an os.Root of its own, following
// no link on the way (a user's home: a link there, made by a user with a
// wider home, must not move another user's root).
func (r *rootFs) openRoot(name string) (*os.Root, error) {
	dir, base, done, err := r.parent(name)
	if err != nil {
		return nil, err
	}
	defer done()
	if base == "." {
		return dir.OpenRoot(".")
	}
	return r.openDirNoFollow(dir, base)
}
