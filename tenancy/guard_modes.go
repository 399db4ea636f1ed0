package tenancy

import (
	"fmt"
	"os"

	"github.com/ftpgate/ftpgate/engine"
)

// Modes a tenant user may set (SITE CHMOD). Permission bits only: no
// setuid, setgid or sticky bit, whatever the owner (a server running as
// root would otherwise let a tenant make setuid-root programs). The owner
// keeps rwx on directories and rw on files, so that no tenant can lock the
// server's own account out of its tree (the usage count at start, backups
// run as the service user, removal of the tenant).
const (
	ownerDirBits  os.FileMode = 0o700
	ownerFileBits os.FileMode = 0o600
)

// specialModeError refuses a mode with anything but permission bits.
func specialModeError(name string, mode os.FileMode) error {
	if mode&^os.ModePerm == 0 {
		return nil
	}
	return &engine.ReplyError{Code: 504, Message: fmt.Sprintf("%s: only permission bits (000 to 777) may be set: setuid, setgid and sticky are refused.", name)}
}

// ownerModeError refuses a mode that takes the owner's rwx from a
// directory or rw from a file, or that is not plain permission bits.
func ownerModeError(name string, isDir bool, mode os.FileMode) error {
	if err := specialModeError(name, mode); err != nil {
		return err
	}
	switch {
	case isDir && mode&ownerDirBits != ownerDirBits:
		return &engine.ReplyError{Code: 550, Message: fmt.Sprintf("%s: directories keep read, write and search for their owner: use a mode of 700 or more (%03o|700 = %03o).", name, mode.Perm(), (mode | ownerDirBits).Perm())}
	case !isDir && mode&ownerFileBits != ownerFileBits:
		return &engine.ReplyError{Code: 550, Message: fmt.Sprintf("%s: files keep read and write for their owner: use a mode of 600 or more (%03o|600 = %03o).", name, mode.Perm(), (mode | ownerFileBits).Perm())}
	}
	return nil
}

// errRootMode refuses changing the mode or owner of the user's root: the
// home, or the tenant's root for a user whose home it is.
func errRootMode(what string) error {
	return &engine.ReplyError{Code: 550, Message: "/: the " + what + " of your root directory cannot be changed."}
}

// checkChmod checks a SITE CHMOD of the resolved path p: not the root,
// permission bits only, the owner's bits kept (checked here for every
// backend, and again on the open file by rootFs).
func (g *guardFs) checkChmod(p string, mode os.FileMode) error {
	if p == "/" {
		return errRootMode("mode")
	}
	if err := specialModeError(p, mode); err != nil {
		return err
	}
	fi, err := g.inner.Stat(p)
	if err != nil {
		return err
	}
	return ownerModeError(p, fi.IsDir(), mode)
}
