package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/policy"
)

// defaultTenant is the one tenant of `ftpgate serve`'s flag mode.
const defaultTenant = "default"

// policyConfig is what the policy and admin flags of `ftpgate serve` ask for.
type policyConfig struct {
	dir            string
	file           string
	onError        string
	timeout        time.Duration
	memoryPages    uint
	adminListen    string
	adminTokenFile string
	adminTLSCert   string
	adminTLSKey    string
}

// register adds the flags to fs.
func (c *policyConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "policy-dir", "ftpgate-policies", "`directory` where uploaded policies are kept across restarts")
	fs.StringVar(&c.file, "policy", "", "WebAssembly policy `file` to install for the default tenant at start")
	fs.StringVar(&c.onError, "policy-on-error", "deny", "decision of --policy when it fails: deny (451) or allow")
	fs.DurationVar(&c.timeout, "policy-timeout", 50*time.Millisecond, "deadline of one policy call")
	fs.UintVar(&c.memoryPages, "policy-memory-pages", 256, "memory limit of a policy instance, in 64 KiB `pages`")
	fs.StringVar(&c.adminListen, "admin-listen", "", "`address` of the policy admin HTTP API (off when empty; loopback unless --admin-tls-cert)")
	fs.StringVar(&c.adminTokenFile, "admin-token-file", "", "`file` holding the admin API's operator token (else $FTPGATE_ADMIN_TOKEN)")
	fs.StringVar(&c.adminTLSCert, "admin-tls-cert", "", "PEM certificate `file` to serve the admin API over HTTPS")
	fs.StringVar(&c.adminTLSKey, "admin-tls-key", "", "PEM private key `file` for --admin-tls-cert")
}

// validate checks the flags that can be checked without touching files.
func (c *policyConfig) validate() error {
	if _, err := policy.ParseOnError(c.onError); err != nil {
		return fmt.Errorf("--policy-on-error: %w", err)
	}
	if err := gateway.CheckPolicyTimeout(c.timeout); err != nil {
		return fmt.Errorf("--policy-timeout: %w", err)
	}
	if err := gateway.CheckMemoryPages(int(min(c.memoryPages, 1<<20))); err != nil {
		return fmt.Errorf("--policy-memory-pages: %w", err)
	}
	if (c.adminTLSCert == "") != (c.adminTLSKey == "") {
		return errors.New("--admin-tls-cert and --admin-tls-key go together")
	}
	if c.adminListen != "" {
		switch err := gateway.CheckAdminListen(c.adminListen, c.adminTLSCert != ""); {
		case errors.Is(err, gateway.ErrAdminInClear):
			return fmt.Errorf("--admin-listen %q is not a loopback address; serving tokens in clear text needs --admin-tls-cert", c.adminListen)
		case err != nil:
			return fmt.Errorf("--admin-listen %w", err)
		}
	}
	return nil
}

// apply puts the flags that were given (set lists them) on cfg's
// [policy] and [admin]: with --config they win over the file, and in flag
// mode the others keep gateway.Default's values, which are the flags'
// defaults.
func (c *policyConfig) apply(cfg *gateway.Config, set []string) {
	for _, f := range []struct {
		flag  string
		apply func()
	}{
		{"policy-dir", func() { cfg.Policy.Dir = c.dir }},
		{"policy-timeout", func() { cfg.Policy.Timeout = conf.Duration(c.timeout) }},
		{"policy-memory-pages", func() { cfg.Policy.MemoryPages = int(min(c.memoryPages, 1<<20)) }},
		{"admin-listen", func() { cfg.Admin.Listen = c.adminListen }},
		{"admin-token-file", func() { cfg.Admin.TokenFile = c.adminTokenFile }},
		{"admin-tls-cert", func() { cfg.Admin.TLSCert = c.adminTLSCert }},
		{"admin-tls-key", func() { cfg.Admin.TLSKey = c.adminTLSKey }},
	} {
		if slices.Contains(set, f.flag) {
			f.apply()
		}
	}
}

// startPolicies is --policy: the module for flag mode's one tenant.
func (c *policyConfig) startPolicies() ([]gateway.StartPolicy, error) {
	if c.file == "" {
		return nil, nil
	}
	wasm, err := os.ReadFile(c.file)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	oe, _ := policy.ParseOnError(c.onError) // checked by validate
	return []gateway.StartPolicy{{Tenant: defaultTenant, Wasm: wasm, OnError: oe}}, nil
}
