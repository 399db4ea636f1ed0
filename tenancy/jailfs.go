package tenancy

import (
	"os"
	"time"

	"github.com/spf13/afero"
)

// JailFs is an afero.Fs over a directory opened as an os.Root, for a
// program that serves one directory with no per-user rights (`ftpgate
// serve --root`): symbolic links inside the directory work, resolved by
// the same walk as tenants' (resolve: at most 40 links, none absolute or
// leading out of the directory), and every operation then touches the
// resolved, link-free path without following anything (rootFs), so no
// link, planted by a user or by another process, reaches a file outside
// the directory. Files are *os.File, so sendfile and splice still apply.
// It also implements Symlink (SITE SYMLINK), storing relative targets.
type JailFs struct {
	fs *rootFs
}

// NewJailFs returns the filesystem of the directory root. The caller
// keeps root and closes it when done.
func NewJailFs(root *os.Root) *JailFs { return &JailFs{fs: &rootFs{root: root}} }

// follow and nofollow resolve a name for an operation that follows a
// link at its end, or acts on the link itself.
func (j *JailFs) follow(name string) (string, error)   { return j.fs.resolve(name, true) }
func (j *JailFs) nofollow(name string) (string, error) { return j.fs.resolve(name, false) }

// Name returns "JailFs".
func (j *JailFs) Name() string { return "JailFs" }

// Create creates or truncates name.
func (j *JailFs) Create(name string) (afero.File, error) {
	return j.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Mkdir creates a directory.
func (j *JailFs) Mkdir(name string, perm os.FileMode) error {
	p, err := j.nofollow(name)
	if err != nil {
		return err
	}
	return j.fs.Mkdir(p, perm)
}

// MkdirAll creates a directory and its parents.
func (j *JailFs) MkdirAll(name string, perm os.FileMode) error {
	p, err := j.follow(name)
	if err != nil {
		return err
	}
	return j.fs.MkdirAll(p, perm)
}

// Open opens name for reading.
func (j *JailFs) Open(name string) (afero.File, error) {
	return j.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile opens name with os.OpenFile flags.
func (j *JailFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	p, err := j.follow(name)
	if err != nil {
		return nil, err
	}
	return j.fs.OpenFile(p, flag, perm)
}

// Remove removes a file, a link or an empty directory.
func (j *JailFs) Remove(name string) error {
	p, err := j.nofollow(name)
	if err != nil {
		return err
	}
	return j.fs.Remove(p)
}

// RemoveAll removes name and everything below it.
func (j *JailFs) RemoveAll(name string) error {
	p, err := j.nofollow(name)
	if err != nil {
		return err
	}
	return j.fs.RemoveAll(p)
}

// Rename renames a file, link or directory.
func (j *JailFs) Rename(oldname, newname string) error {
	o, err := j.nofollow(oldname)
	if err != nil {
		return err
	}
	n, err := j.nofollow(newname)
	if err != nil {
		return err
	}
	return j.fs.Rename(o, n)
}

// Stat returns the information of what name leads to.
func (j *JailFs) Stat(name string) (os.FileInfo, error) {
	p, err := j.follow(name)
	if err != nil {
		return nil, err
	}
	return j.fs.Stat(p)
}

// LstatIfPossible returns name's own information.
func (j *JailFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	p, err := j.nofollow(name)
	if err != nil {
		return nil, true, err
	}
	return j.fs.LstatIfPossible(p)
}

// ReadlinkIfPossible returns a link's target.
func (j *JailFs) ReadlinkIfPossible(name string) (string, error) {
	p, err := j.nofollow(name)
	if err != nil {
		return "", err
	}
	return j.fs.ReadlinkIfPossible(p)
}

// Chmod changes a mode; directories keep the owner's rwx, files rw.
func (j *JailFs) Chmod(name string, mode os.FileMode) error {
	p, err := j.follow(name)
	if err != nil {
		return err
	}
	return j.fs.Chmod(p, mode)
}

// Chown changes an owner.
func (j *JailFs) Chown(name string, uid, gid int) error {
	p, err := j.follow(name)
	if err != nil {
		return err
	}
	return j.fs.Chown(p, uid, gid)
}

// Chtimes changes times.
func (j *JailFs) Chtimes(name string, atime, mtime time.Time) error {
	p, err := j.follow(name)
	if err != nil {
		return err
	}
	return j.fs.Chtimes(p, atime, mtime)
}

// Symlink makes newname a link to oldname (both paths inside the
// directory), stored relative to newname's directory.
func (j *JailFs) Symlink(oldname, newname string) error {
	n, err := j.nofollow(newname)
	if err != nil {
		return err
	}
	return j.fs.Symlink(oldname, n)
}

// Interfaces JailFs implements.
var (
	_ afero.Fs         = (*JailFs)(nil)
	_ afero.Lstater    = (*JailFs)(nil)
	_ afero.LinkReader = (*JailFs)(nil)
)
