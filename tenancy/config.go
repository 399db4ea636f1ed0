package tenancy

import (
	"maps"
	"net/netip"
	"time"

	"github.com/ftpgate/ftpgate/ratelimit"
)

// Config is everything the driver serves from: the server file's settings
// that tenancy uses (read by the gateway, which owns that file) and the
// tenant files of its tenants directory (LoadTenants), parsed and validated. Paths in
// it are absolute, resolved against the directory of the file naming them.
type Config struct {
	// File is the absolute path of the server file.
	File string
	// Server is the server file's content.
	Server ServerConfig
	// Tenants are the tenants, in the order of their file names.
	Tenants []*TenantConfig
}

// ServerConfig is what tenancy uses of the server file; the gateway
// (cmd/ftpgate/gateway) reads that file and fills it.
type ServerConfig struct {
	// Listen is the control connection address, "127.0.0.1:2121" by default.
	Listen string
	// ImplicitTLSListen is the address of an implicit FTPS listener, or "".
	ImplicitTLSListen string
	// TLSCert and TLSKey are the default certificate's PEM files; both empty
	// means a self-signed certificate made at start.
	TLSCert, TLSKey string
	// TLSRequired refuses login before AUTH TLS for every tenant.
	TLSRequired bool
	// TLSClientCA, when set, is a PEM file of CA certificates: clients
	// are asked for a certificate, and one these CAs sign that names the
	// account logs it in without a password (Driver.VerifyTLSClient).
	// Re-read on every Reload.
	TLSClientCA string
	// TLSCipherSuites are the TLS 1.2 cipher suites offered, for every
	// certificate; nil means Go's defaults.
	TLSCipherSuites []uint16
	// PassivePortLow and PassivePortHigh bound the passive ports; 0 and 0
	// let the kernel pick.
	PassivePortLow, PassivePortHigh int
	// PublicHost is the IPv4 address advertised in PASV replies, or "".
	PublicHost string
	// IdleTimeout is how long a control connection may stay idle; 0 means
	// no limit.
	IdleTimeout time.Duration
	// ConnectionTimeout bounds opening a data connection and a stalled
	// transfer.
	ConnectionTimeout time.Duration
	// ShutdownTimeout is how long running transfers may finish after
	// SIGINT or SIGTERM.
	ShutdownTimeout time.Duration
	// LoginFailureDelay is how long every failed login waits before its
	// 530, whatever the reason, so that timing tells nothing.
	LoginFailureDelay time.Duration
	// LogFormat is "text" or "json"; LogLevel is debug, info, warn or error.
	LogFormat, LogLevel string
	// TenantsDir holds one *.toml file per tenant.
	TenantsDir string
	// DefaultTenant is the id of the tenant used when neither HOST, SNI nor
	// the login names one, or "" to refuse such logins.
	DefaultTenant string
	// Limits is the [limits] section: server-wide rate limits and the
	// defaults for every tenant and user (see ratelimit.Config).
	Limits ratelimit.Config
}

// TenantConfig is one tenant file.
type TenantConfig struct {
	// File is the absolute path of the tenant file.
	File string
	// ID names the tenant in logins (user@ID) and in logs.
	ID string
	// Hostnames are the names, in lower case, that select the tenant by
	// HOST or TLS SNI.
	Hostnames []string
	// Certificates are the tenant's own certificates, by hostname.
	Certificates []CertificateConfig
	// Disabled refuses every login and closes live sessions.
	Disabled bool
	// Storage is where the tenant's files live.
	Storage StorageConfig
	// QuotaBytes and QuotaFiles bound the tenant's usage (QuotaFiles
	// counts entries: files, directories and links); 0 means no limit.
	QuotaBytes, QuotaFiles int64
	// AdminTokenSHA256 is the SHA-256 of the token with which the tenant
	// manages its own policy through the admin API, or nil for none. Only
	// the hash is kept: the token is a random secret, not a password.
	AdminTokenSHA256 []byte
	// Limits override the server's [limits.tenant] for this tenant (0
	// keeps the server's value, a negative number removes the limit).
	Limits ratelimit.Limits
	// Users are the tenant's users.
	Users []*UserConfig
}

// CertificateConfig is a certificate served to TLS clients asking for
// Hostname by SNI.
type CertificateConfig struct {
	Hostname  string // one of the tenant's hostnames
	Cert, Key string // PEM files
}

// Storage backends.
const (
	BackendOS     = "os"     // a host directory, jailed with os.Root
	BackendMemory = "memory" // afero.MemMapFs, lost at exit
	// BackendS3 (storage_s3.go): an S3-compatible object store.
)

// StorageConfig says where a tenant's files live.
type StorageConfig struct {
	// Backend is BackendOS, BackendS3 or BackendMemory.
	Backend string
	// Dir is the host directory of BackendOS, created when missing.
	Dir string
	// S3 is the object store of BackendS3.
	S3 *S3Config
	// ReadOnly refuses every change for every user.
	ReadOnly bool
	// MaxPathDepth and MaxPathLength cap the tenant-absolute path of
	// everything a user creates, in elements and bytes; 0 means
	// DefaultMaxPathDepth and DefaultMaxPathLength.
	MaxPathDepth, MaxPathLength int
}

// UserConfig is one user of a tenant.
type UserConfig struct {
	// Name is the login name within the tenant.
	Name string
	// PasswordHash is an argon2id ("$argon2id$v=19$m=...,t=...,p=...$salt$hash")
	// or bcrypt ("$2a$", "$2b$", "$2y$") hash.
	PasswordHash string
	// Home is the user's root directory within the tenant's storage.
	Home string
	// Permissions are the user's rights by path prefix (relative to Home);
	// the longest matching prefix decides. None means PermAll (every right
	// but symlink and chown).
	Permissions []PermissionConfig
	// AllowedCIDRs are the networks the user may log in from; none means
	// any.
	AllowedCIDRs []netip.Prefix
	// Disabled refuses logins and closes live sessions.
	Disabled bool
	// TLSRequired refuses login without AUTH TLS (or implicit TLS) and
	// transfers without PROT P.
	TLSRequired bool
	// Limits override the server's [limits.user] for this user (0 keeps
	// the server's value, a negative number removes the limit).
	Limits ratelimit.Limits
}

// PermissionConfig grants rights below a path prefix.
type PermissionConfig struct {
	Prefix string // clean absolute path, as the user sees it
	Allow  Perm
}

// RateLimits returns the [limits] section with the limits of the tenant
// files folded in: each tenant's under its id, each user's under
// "tenant/user", the keys ratelimit.Limiter uses when its Identity is
// tenancy.Identity.
func (c *Config) RateLimits() ratelimit.Config {
	rl := c.Server.Limits
	rl.Tenants = maps.Clone(rl.Tenants)
	rl.Users = maps.Clone(rl.Users)
	for _, t := range c.Tenants {
		if t.Limits != (ratelimit.Limits{}) {
			if rl.Tenants == nil {
				rl.Tenants = map[string]ratelimit.Limits{}
			}
			rl.Tenants[t.ID] = t.Limits
		}
		for _, u := range t.Users {
			if u.Limits != (ratelimit.Limits{}) {
				if rl.Users == nil {
					rl.Users = map[string]ratelimit.Limits{}
				}
				rl.Users[t.ID+"/"+u.Name] = u.Limits
			}
		}
	}
	return rl
}
