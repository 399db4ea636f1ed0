// Package telemetry is the gateway's telemetry plane: an HTTP listener of
// its own (the server file's [telemetry]) serving /livez, /readyz and the
// Prometheus metrics at /metrics, and the metrics themselves (Metrics),
// fed by engine hooks and by the plugins' plain statistics.
//
// The plugins (engine, ratelimit, policy) never import client_golang:
// they expose counters and snapshots, and this package turns them into
// collectors of its own registry.
package telemetry

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// DefaultMaxTenantLabels is max_tenant_labels' default.
const DefaultMaxTenantLabels = 100

// maxMaxTenantLabels bounds max_tenant_labels: each tenant label value
// multiplies the series of every family labelled by tenant.
const maxMaxTenantLabels = 10000

// MinToken is the shortest token token_file may hold.
const MinToken = 16

// Config is [telemetry] (--telemetry-*). An empty Listen serves nothing
// and collects nothing.
type Config struct {
	// Listen is the telemetry listener's HOST:PORT. An address that is
	// not loopback needs TLSCert or TokenFile.
	Listen string `toml:"listen"`
	// TokenFile holds a bearer token (at least MinToken characters) that
	// /metrics asks for; /livez and /readyz stay open, for balancers.
	TokenFile string `toml:"token_file"`
	// TLSCert and TLSKey serve the listener over HTTPS.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// MaxTenantLabels is how many distinct tenants get a tenant label of
	// their own; later tenants share "other". 1 to 10000.
	MaxTenantLabels int `toml:"max_tenant_labels"`
}

// Default returns [telemetry]'s defaults: off.
func Default() Config { return Config{MaxTenantLabels: DefaultMaxTenantLabels} }

// On reports whether a telemetry listener is configured.
func (c Config) On() bool { return c.Listen != "" }

// Validate checks [telemetry]; the errors' keys are relative to the
// section (a conf.Errors).
func (c Config) Validate() error {
	var errs conf.Errors
	add := func(key, format string, args ...any) {
		errs = append(errs, &conf.Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		add("tls_cert", "tls_cert and tls_key go together")
	}
	if c.MaxTenantLabels < 1 || c.MaxTenantLabels > maxMaxTenantLabels {
		add("max_tenant_labels", "%d: want 1 to %d", c.MaxTenantLabels, maxMaxTenantLabels)
	}
	if c.TokenFile != "" {
		if _, err := ReadToken(c.TokenFile); err != nil {
			add("token_file", "%v", err)
		}
	}
	if c.Listen != "" {
		switch err := checkListen(c.Listen, c.TLSCert != "" || c.TokenFile != ""); {
		case errors.Is(err, errInClear):
			add("listen", "%q is not a loopback address: serving metrics beyond this host needs tls_cert and tls_key, or token_file", c.Listen)
		case err != nil:
			add("listen", "%v", err)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// errInClear is checkListen's answer for an open address that is not
// loopback.
var errInClear = errors.New("not a loopback address")

// checkListen checks HOST:PORT, and a loopback host unless guarded.
func checkListen(addr string, guarded bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT, like \"127.0.0.1:9121\"", addr)
	}
	ip := net.ParseIP(host)
	if loopback := host == "localhost" || (ip != nil && ip.IsLoopback()); !loopback && !guarded {
		return errInClear
	}
	return nil
}

// maxTokenFile bounds what ReadToken reads.
const maxTokenFile = 4096

// ReadToken reads the bearer token in file: its content without the
// surrounding white space, at least MinToken characters.
func ReadToken(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("cannot read %q", file)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("cannot read %q", file)
	case len(b) > maxTokenFile:
		return "", fmt.Errorf("%q: want a token of at most %d bytes", file, maxTokenFile)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinToken {
		return "", fmt.Errorf("%q: want a token of at least %d characters", file, MinToken)
	}
	return tok, nil
}
