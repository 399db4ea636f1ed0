package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
)

// errBadLogin is the one answer to a wrong user or a wrong password, so that
// a client cannot tell which of the two was wrong.
var errBadLogin = errors.New("login incorrect")

// singleRootDriver is the embedded default's MainDriver: a fixed list of
// users sharing one directory.
type singleRootDriver struct {
	settings *engine.Settings
	tls      *tls.Config
	fs       afero.Fs
	users    map[string][sha256.Size]byte // name → sha256 of the password
}

// newSingleRootDriver returns a driver serving fs to users (name →
// password).
func newSingleRootDriver(settings *engine.Settings, tlsConfig *tls.Config, fs afero.Fs, users map[string]string) *singleRootDriver {
	d := &singleRootDriver{settings: settings, tls: tlsConfig, fs: fs, users: make(map[string][sha256.Size]byte, len(users))}
	for name, pass := range users {
		d.users[name] = sha256.Sum256([]byte(pass))
	}
	return d
}

// GetSettings returns the settings built from the flags.
func (d *singleRootDriver) GetSettings() (*engine.Settings, error) { return d.settings, nil }

// ClientConnected admits every connection; limits come from other packages.
func (d *singleRootDriver) ClientConnected(engine.ClientContext) (string, error) {
	return "ftpgate ready", nil
}

// ClientDisconnected has nothing to release.
func (d *singleRootDriver) ClientDisconnected(engine.ClientContext) {}

// AuthUser compares digests in constant time, and hashes a password even
// for an unknown user, so that timing tells nothing about which names exist.
func (d *singleRootDriver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	want, known := d.users[user]
	got := sha256.Sum256([]byte(pass))
	if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && known {
		return d.fs, nil
	}
	return nil, errBadLogin
}

// GetTLSConfig returns the certificate loaded or made at start.
func (d *singleRootDriver) GetTLSConfig() (*tls.Config, error) { return d.tls, nil }

// rootFs is the served directory with what an OS directory can offer
// beyond afero.Fs: symbolic links for SITE SYMLINK.
type rootFs struct {
	afero.Fs
	root string // absolute host path of "/"
}

// Symlink makes newname a link to oldname. The engine gives both as clean
// paths below "/"; the link stores the target relative to the link's
// directory, so it resolves inside the root and LIST never shows the
// host path.
func (r rootFs) Symlink(oldname, newname string) error {
	link := filepath.FromSlash(newname)
	target, err := filepath.Rel(filepath.Dir(link), filepath.FromSlash(oldname))
	if err != nil {
		return err
	}
	return os.Symlink(target, filepath.Join(r.root, link))
}
