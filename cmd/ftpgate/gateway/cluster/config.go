// Package cluster lets several ftpgate instances behind a balancer act as
// one gateway, through Redis: the server file's [cluster] section
// (Config), the shared go-redis client with a deadline on every call and
// a fail mode per feature (Runtime, Options), its metrics (Stats), the
// registry of instances (id, version, config generation, addresses,
// heartbeat) and the cluster-wide session registry that lets the admin
// API of any instance list and end the sessions of every instance.
//
// The plugins never import this package: each owns its Redis store behind
// an interface, built from an options struct of FeatureOptions' shape,
// which the gateway converts (Runtime.Options) in gateway.install.
package cluster

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// Defaults and bounds of [cluster].
const (
	// DefaultPrefix starts every key of the cluster.
	DefaultPrefix = "ftpgate:"
	// DefaultDeadline bounds each Redis call of a login or a command.
	DefaultDeadline = 50 * time.Millisecond
	// DefaultLease is how long an instance stays listed without a
	// heartbeat (one every lease/3).
	DefaultLease = 15 * time.Second
	// DefaultFanout bounds a cluster-wide admin request (list or end a
	// session) from the ask to the last reply taken.
	DefaultFanout = time.Second
	// maxPrefix bounds prefix's length.
	maxPrefix = 64
	// maxInstanceID bounds instance_id's length.
	maxInstanceID = 48
	// PasswordEnv holds Redis's password when password_file is empty.
	PasswordEnv = "FTPGATE_REDIS_PASSWORD"
	// maxPasswordFile bounds what password_file may hold.
	maxPasswordFile = 4096
)

// Fail modes of a feature (fail.*).
const (
	// FailOpen serves with the instance's local state while Redis is
	// unreachable or slow.
	FailOpen = "open"
	// FailClosed refuses what needs the shared state while Redis is
	// unreachable or slow.
	FailClosed = "closed"
)

// Config is [cluster] (--cluster-*). An empty Redis is a single instance:
// nothing is shared and no Redis client is made.
type Config struct {
	// Redis is the Redis (or Valkey) server's HOST:PORT.
	Redis string `toml:"redis"`
	// Username is the Redis ACL user ("" for the default user).
	Username string `toml:"username"`
	// PasswordFile holds Redis's password (else $FTPGATE_REDIS_PASSWORD;
	// neither: none). It is never logged.
	PasswordFile string `toml:"password_file"`
	// TLS speaks TLS to Redis; TLSCA is a PEM file of the CAs that sign
	// its certificate ("" for the system's).
	TLS   bool   `toml:"tls"`
	TLSCA string `toml:"tls_ca"`
	// Prefix starts every key and channel of this cluster, so that
	// clusters can share one Redis: 1 to 64 of [A-Za-z0-9:._-].
	Prefix string `toml:"prefix"`
	// InstanceID names this instance in the registry and in session ids:
	// 1 to 48 of [A-Za-z0-9_-]; "" makes one from the host name and a
	// random suffix at each start.
	InstanceID string `toml:"instance_id"`
	// Deadline bounds each Redis call of a feature, 1ms to 5s.
	Deadline conf.Duration `toml:"deadline"`
	// Lease is how long an instance stays registered without a heartbeat,
	// 3s to 10m; a dead instance disappears within one lease.
	Lease conf.Duration `toml:"lease"`
	// Fanout bounds a cluster-wide admin request, 100ms to 10s: instances
	// that have not answered by then are reported missing.
	Fanout conf.Duration `toml:"fanout"`
	// Fail is each feature's fail mode.
	Fail FailConfig `toml:"fail"`
}

// FailConfig is [cluster.fail]: per feature, "open" (serve with local
// state) or "closed" (refuse) while Redis is unreachable or slow.
type FailConfig struct {
	// Bans: failed-login scores and bans (ratelimit). Open: local bans.
	Bans string `toml:"bans"`
	// Sessions: session counts per user and tenant (ratelimit) and the
	// cluster session registry. Open: local counts.
	Sessions string `toml:"sessions"`
	// Rates: command and connection rates per tenant and user (ratelimit).
	Rates string `toml:"rates"`
	// Quota: tenants' quota usage (tenancy). Closed by default: an open
	// quota could be overshot by every instance at once.
	Quota string `toml:"quota"`
	// Policies: the shared policy store (policy). Open: the policies
	// already loaded keep ruling.
	Policies string `toml:"policies"`
}

// Default returns [cluster]'s defaults: off.
func Default() Config {
	return Config{
		Prefix:   DefaultPrefix,
		Deadline: conf.Duration(DefaultDeadline),
		Lease:    conf.Duration(DefaultLease),
		Fanout:   conf.Duration(DefaultFanout),
		Fail:     FailConfig{Bans: FailOpen, Sessions: FailOpen, Rates: FailOpen, Quota: FailClosed, Policies: FailOpen},
	}
}

// On reports whether a Redis server is configured.
func (c Config) On() bool { return c.Redis != "" }

// Validate checks [cluster]; the errors' keys are relative to the section
// (a conf.Errors). The settings are checked even when Redis is empty, so
// that a mistake shows before the cluster is switched on.
func (c Config) Validate() error {
	var errs conf.Errors
	add := func(key, format string, args ...any) {
		errs = append(errs, &conf.Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Redis != "" {
		host, port, err := net.SplitHostPort(c.Redis)
		if err == nil {
			_, err = strconv.ParseUint(port, 10, 16)
		}
		if err != nil || host == "" {
			add("redis", "%q: want HOST:PORT, like \"127.0.0.1:6379\"", c.Redis)
		}
	}
	if c.PasswordFile != "" {
		if _, err := readPassword(c.PasswordFile); err != nil {
			add("password_file", "%v", err)
		}
	}
	if c.TLSCA != "" {
		if !c.TLS {
			add("tls_ca", "needs tls = true")
		}
		if _, err := os.ReadFile(c.TLSCA); err != nil {
			add("tls_ca", "cannot read %q: want a PEM file of CA certificates", c.TLSCA)
		}
	}
	if !validName(c.Prefix, maxPrefix, ":.") {
		add("prefix", "%q: want 1 to %d of A-Z a-z 0-9 : . _ -", c.Prefix, maxPrefix)
	}
	if c.InstanceID != "" && !validName(c.InstanceID, maxInstanceID, "") {
		add("instance_id", "%q: want 1 to %d of A-Z a-z 0-9 _ -", c.InstanceID, maxInstanceID)
	}
	for _, d := range []struct {
		key      string
		v        conf.Duration
		min, max time.Duration
		want     string
	}{
		{"deadline", c.Deadline, time.Millisecond, 5 * time.Second, "1ms to 5s"},
		{"lease", c.Lease, 3 * time.Second, 10 * time.Minute, "3s to 10m"},
		{"fanout", c.Fanout, 100 * time.Millisecond, 10 * time.Second, "100ms to 10s"},
	} {
		if time.Duration(d.v) < d.min || time.Duration(d.v) > d.max {
			add(d.key, "%s: want %s", d.v, d.want)
		}
	}
	for _, f := range []struct{ key, v string }{
		{"fail.bans", c.Fail.Bans}, {"fail.sessions", c.Fail.Sessions}, {"fail.rates", c.Fail.Rates},
		{"fail.quota", c.Fail.Quota}, {"fail.policies", c.Fail.Policies},
	} {
		if f.v != FailOpen && f.v != FailClosed {
			add(f.key, "%q: want open or closed", f.v)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// validName reports whether s is 1 to max of [A-Za-z0-9_-] and extra.
func validName(s string, max int, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		for j := 0; !ok && j < len(extra); j++ {
			ok = c == extra[j]
		}
		if !ok {
			return false
		}
	}
	return true
}

// readPassword reads Redis's password from file: its content without
// the surrounding white space. The error never holds the content.
func readPassword(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("cannot read %q", file)
	}
	defer f.Close()
	b := make([]byte, maxPasswordFile+1)
	n, _ := io.ReadFull(f, b)
	if n > maxPasswordFile {
		return "", fmt.Errorf("%q: want a password of at most %d bytes", file, maxPasswordFile)
	}
	return strings.TrimSpace(string(b[:n])), nil
}

// password returns the password to send: password_file's, else
// $FTPGATE_REDIS_PASSWORD's, else "".
func (c Config) password() (string, error) {
	if c.PasswordFile != "" {
		return readPassword(c.PasswordFile)
	}
	return os.Getenv(PasswordEnv), nil
}
