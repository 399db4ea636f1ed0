// Package tenancy turns the engine into a multi-tenant gateway. It reads a
// directory of TOML tenant files (LoadTenants; the server file that names
// it belongs to cmd/ftpgate/gateway, which fills ServerConfig), and its
// Driver, an engine.MainDriver, finds each login's tenant (the HOST
// command, the TLS server name, a user@tenant login, or a default tenant),
// checks argon2id and bcrypt password hashes, and gives each session the
// user's home in the tenant's storage: a host directory jailed with
// os.Root, or memory. One afero.Fs wrapper enforces the user's rights by
// path prefix, judged on the path an operation reaches with symbolic links
// resolved (Driver.TenantPath tells plugins that path), and the tenant's
// quota. NewJailFs serves a directory with the same jail and no rights.
// Driver.Reload swaps in a new
// configuration without dropping sessions, closing only those of disabled
// or removed accounts. Other plugins learn a session's tenant and user
// with SessionInfo.
package tenancy
