package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/policy"
)

// defaultTenant is the one tenant of `ftpgate serve`'s flag mode.
const defaultTenant = "default"

// policyFlag is --policy and --policy-on-error, the serve flags without
// a server-file key (the other --policy-* and --admin-* flags are bound
// onto gateway.Config's [policy] and [admin]).
type policyFlag struct {
	file    string
	onError policy.OnError
}

// startPolicies is --policy: the module for flag mode's one tenant.
func (p *policyFlag) startPolicies() ([]gateway.StartPolicy, error) {
	if p.file == "" {
		return nil, nil
	}
	wasm, err := os.ReadFile(p.file)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	return []gateway.StartPolicy{{Tenant: defaultTenant, Wasm: wasm, OnError: p.onError}}, nil
}

// reinstallPolicy is flag mode's Options.Reread beside the flags, which
// stay: --policy is read and installed again (the gateway's Reload then
// re-reads the TLS certificate, its key and the client CAs; a file that
// no longer loads is refused and the running one stays). The --user
// passwords were hashed at start and stay.
func reinstallPolicy(ctx context.Context, g *gateway.Gateway, p *policyFlag, log *slog.Logger) error {
	ps, err := p.startPolicies()
	if err == nil {
		err = g.InstallPolicies(ctx, ps)
	}
	if err != nil {
		log.Error("reload: --policy rejected; the running policy stays", "err", err)
	}
	return err
}
