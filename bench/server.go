// Package bench measures ftpgate against ceilings taken in the same run:
// raw loopback TCP with sendfile and splice, and crypto/tls, so that every
// figure is a ratio that stays comparable on noisy machines. Benchmarks run
// with go test -bench; TestThroughputGuard and TestIdleMemoryGuard run in
// go test and fail when throughput falls below a fraction of the ceiling
// or idle sessions cost more than a bound. See README.md.
package bench

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/tenancy"
	"github.com/spf13/afero"
)

// User and Pass are the credentials of the benchmark servers.
const (
	User = "bench"
	Pass = "bench"
)

// FSKind names a server filesystem.
type FSKind string

// Filesystems the benchmarks serve.
const (
	// OSFS is an afero.BasePathFs over the OS filesystem in a temp dir:
	// files are *os.File, so transfers can use sendfile and splice.
	OSFS FSKind = "os"
	// MemFS is an afero.MemMapFs.
	MemFS FSKind = "mem"
)

// ServerOptions configure an in-process ftpgate server.
type ServerOptions struct {
	FS  FSKind // OSFS (the default) or MemFS
	Dir string // root directory for OSFS; a new temp dir when empty
	// TLS offers AUTH TLS and PROT P with a self-signed certificate.
	TLS bool
	// PassivePorts, when not nil, picks passive ports instead of the
	// kernel (Settings.PassiveTransferPortRange).
	PassivePorts *engine.PortRange
	// TransferHooks are installed on the engine.Server (tests use them
	// to corrupt transfers on purpose).
	TransferHooks []engine.TransferHook
	// ResultHooks are added to the engine.Server's, after the features'
	// (tests use them to see how each transfer's bytes moved).
	ResultHooks []engine.ResultHook
	// Features switches gateway features on (features.go): PROXY
	// headers required on control and data connections (clients must
	// dial with DialProxied), a rate limiter, a policy subscribed to
	// every verb.
	Features FeatureSet
	// Argon2 are the hash parameters of the tenancy user's password
	// (FeatureTenancy); nil for cheap ones (tenancyConfig).
	Argon2 *tenancy.Argon2Params
}

// Server is an in-process ftpgate engine.Server on 127.0.0.1 for
// benchmarks.
type Server struct {
	Addr   string      // control address
	FS     afero.Fs    // what the users see
	Dir    string      // the OS directory behind FS, "" for MemFS
	Client *tls.Config // a client TLS config trusting the server, nil without TLS
	// Features are the gateway features, nil without ServerOptions.Features.
	Features *Features
	srv      *engine.Server
	stopFeat func()
	done     chan error
	tmp      string
	closed   sync.Once
}

// StartServer starts an ftpgate server on a kernel-chosen loopback port.
// Close stops it and removes a temp dir it made.
func StartServer(opts ServerOptions) (*Server, error) {
	s := &Server{done: make(chan error, 1)}
	switch opts.FS {
	case MemFS:
		s.FS = afero.NewMemMapFs()
	case OSFS, "":
		s.Dir = opts.Dir
		if s.Dir == "" {
			dir, err := os.MkdirTemp("", "ftpgate-bench-")
			if err != nil {
				return nil, err
			}
			s.Dir, s.tmp = dir, dir
		}
		s.FS = afero.NewBasePathFs(afero.NewOsFs(), s.Dir)
	default:
		return nil, fmt.Errorf("bench: unknown filesystem %q", opts.FS)
	}
	d := &driver{fs: s.FS, settings: &engine.Settings{
		ListenAddr:        "127.0.0.1:0",
		IdleTimeout:       -1, // idle sessions are measured, not reaped
		ConnectionTimeout: 30,
	}}
	if opts.PassivePorts != nil {
		d.settings.PassiveTransferPortRange = opts.PassivePorts
	}
	if opts.TLS {
		srvCfg, cliCfg, err := SelfSignedTLS()
		if err != nil {
			s.cleanup()
			return nil, err
		}
		d.tls, s.Client = srvCfg, cliCfg
	}
	s.srv = &engine.Server{
		Driver:        d,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		TransferHooks: opts.TransferHooks,
		ResultHooks:   opts.ResultHooks,
	}
	if opts.Features != 0 {
		srv, f, stop, err := enableFeatures(opts.Features, d, opts.TransferHooks, s.Dir, opts.Argon2, s.srv.Logger)
		if err != nil {
			s.cleanup()
			return nil, err
		}
		srv.ResultHooks = append(srv.ResultHooks, opts.ResultHooks...)
		s.srv, s.Features, s.stopFeat = srv, f, stop
	} else if err := s.srv.Listen(); err != nil {
		s.cleanup()
		return nil, err
	}
	s.Addr = s.srv.Addr().String()
	go func() { s.done <- s.srv.ListenAndServe() }()
	return s, nil
}

// Close stops the server, waits for it, and removes its temp dir.
func (s *Server) Close() error {
	var err error
	s.closed.Do(func() {
		_ = s.srv.Close()
		if e := <-s.done; !errors.Is(e, engine.ErrServerClosed) {
			err = e
		}
		s.cleanup()
	})
	return err
}

func (s *Server) cleanup() {
	if s.stopFeat != nil {
		s.stopFeat()
	}
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}

// driver is the benchmark servers' MainDriver: one user, one filesystem.
type driver struct {
	fs       afero.Fs
	settings *engine.Settings
	tls      *tls.Config
}

func (d *driver) GetSettings() (*engine.Settings, error)               { return d.settings, nil }
func (d *driver) ClientConnected(engine.ClientContext) (string, error) { return "bench", nil }
func (d *driver) ClientDisconnected(engine.ClientContext)              {}
func (d *driver) GetTLSConfig() (*tls.Config, error)                   { return d.tls, nil }
func (d *driver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if user == User && pass == Pass {
		return d.fs, nil
	}
	return nil, errors.New("login incorrect")
}

var (
	tlsOnce        sync.Once
	tlsSrv, tlsCli *tls.Config
	tlsErr         error
)

// SelfSignedTLS returns a server configuration with a self-signed ECDSA
// P-256 certificate for 127.0.0.1, and a client configuration that trusts
// it and caches sessions. The certificate is made once per process.
func SelfSignedTLS() (server, client *tls.Config, err error) {
	tlsOnce.Do(func() {
		cert, err := conf.SelfSigned(time.Now(), "ftpgate bench", 24*time.Hour)
		if err != nil {
			tlsErr = err
			return
		}
		leaf := cert.Leaf
		pool := x509.NewCertPool()
		pool.AddCert(leaf)
		tlsSrv = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		tlsCli = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(64), MinVersion: tls.VersionTLS12}
	})
	if tlsErr != nil {
		return nil, nil, tlsErr
	}
	return tlsSrv, tlsCli.Clone(), nil
}
