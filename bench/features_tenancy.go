package bench

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/tenancy"
)

// tenancyConfig returns the gateway configuration of a server whose
// tenancy.Driver serves dir as the storage of the one tenant
// FeatureTenant, whose user User has an argon2id password hash and whose
// quota (far above what a benchmark stores) makes every upload reserve its
// bytes. Idle sessions stay, as with the engine alone. The configuration
// files go in a temp dir that close removes. argon2, when not nil, are the
// hash parameters instead of the cheap ones below.
func tenancyConfig(dir string, argon2 *tenancy.Argon2Params) (cfg gateway.Config, close func(), err error) {
	conf, err := os.MkdirTemp("", "ftpgate-bench-tenancy-")
	if err != nil {
		return cfg, nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(conf)
		}
	}()
	// Cheap hash parameters: the credential cache makes repeat logins
	// cheap whatever they are, and the first logins of 32 clients at
	// once should not each take 64 MiB.
	params := tenancy.Argon2Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	if argon2 != nil {
		params = *argon2
	}
	hash, err := tenancy.HashPasswordArgon2id(Pass, params)
	if err != nil {
		return cfg, nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return cfg, nil, err
	}
	server := fmt.Sprintf("[listen]\ncontrol = %q\n[timeouts]\nidle = \"0s\"\n[tenants]\ndir = \"tenants\"\ndefault = %q\n", "127.0.0.1:0", FeatureTenant)
	tenant := fmt.Sprintf(`id = %q
[storage]
backend = "os"
dir = %q
[quota]
bytes = %d
files = %d
[[users]]
name = %q
password = %q
`, FeatureTenant, abs, int64(1)<<50, int64(1)<<30, User, hash)
	if err := os.MkdirAll(filepath.Join(conf, "tenants"), 0o700); err != nil {
		return cfg, nil, err
	}
	if err := os.WriteFile(filepath.Join(conf, "server.toml"), []byte(server), 0o600); err != nil {
		return cfg, nil, err
	}
	if err := os.WriteFile(filepath.Join(conf, "tenants", FeatureTenant+".toml"), []byte(tenant), 0o600); err != nil {
		return cfg, nil, err
	}
	cfg, err = gateway.Load(filepath.Join(conf, "server.toml"))
	if err != nil {
		return cfg, nil, err
	}
	return cfg, func() { _ = os.RemoveAll(conf) }, nil
}
