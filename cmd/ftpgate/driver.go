package main

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/tenancy"
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
	if conf.TokenMatches(want[:], pass) && known {
		return d.fs, nil
	}
	return nil, errBadLogin
}

// GetTLSConfig returns the certificate loaded or made at start.
func (d *singleRootDriver) GetTLSConfig() (*tls.Config, error) { return d.tls, nil }

// rootFs is the served directory, jailed as tenants' directories are
// (tenancy.JailFs on an os.Root: links inside it work, none leads out of
// it), with AVBL (avbl_unix.go). JailFs already has Symlink for SITE
// SYMLINK, and its files are *os.File, so sendfile and splice apply.
type rootFs struct {
	*tenancy.JailFs
}
