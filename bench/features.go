package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/audit"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/proxyproto"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/tenancy"
	pp "github.com/pires/go-proxyproto"
)

// The feature benchmarks run the same transfers against the engine alone
// and against a server with every gateway feature on, as a deployment
// behind a balancer with limits and a tenant policy would run it: PROXY
// protocol v2 required on the control and the passive data connections,
// a ratelimit.Limiter whose every limit is set (too high to bite), and a
// WebAssembly policy subscribed to every verb. See README.md.

// ProxyClientIP is the client address the feature benchmarks' PROXY
// headers carry (TEST-NET-1): the server believes it because the header
// comes from 127.0.0.1, a trusted balancer.
const ProxyClientIP = "192.0.2.1"

// FeatureTenant is the tenant every session of a feature server belongs
// to, the one whose policy applies.
const FeatureTenant = "bench"

// Limits of the feature server: every limit the limiter has is set, so
// that its admission, login, command and bandwidth paths all run, each far
// above what a benchmark reaches.
const (
	featureConnRate      = 1e6         // new connections per second per IP
	featureConns         = 1 << 20     // connections at once, per IP and in total
	featureCmdRate       = 1e6         // commands per second per session
	featureByteRate      = 100e9       // bytes per second per user, tenant and IP: 100 GB/s
	featureSessions      = 1 << 20     // logged-in sessions per user and tenant
	featureFailures      = 1 << 20     // failed logins before a ban
	featurePassive       = 1 << 20     // passive ports held per IP, user and tenant
	featurePolicyTimeout = time.Second // a policy call's deadline, generous so a loaded machine does not fail calls
)

// FeatureSet chooses gateway features; the benchmarks switch them on one
// at a time and all together, to tell what costs what.
type FeatureSet uint8

// Features a server can run with.
const (
	// FeatureProxy requires PROXY protocol headers from 127.0.0.1 on the
	// control listener and on every passive data listener.
	FeatureProxy FeatureSet = 1 << iota
	// FeatureLimits installs a ratelimit.Limiter with every limit set, to
	// values no benchmark reaches (FeatureLimitsConfig).
	FeatureLimits
	// FeaturePolicy installs a WebAssembly policy subscribed to every
	// verb that allows everything (AllowAllPolicy).
	FeaturePolicy
	// FeatureTenancy serves through a tenancy.Driver (os.Root storage,
	// argon2id password with the credential cache, rights, a quota)
	// instead of the benchmarks' plain driver.
	FeatureTenancy
	// FeatureTelemetry serves the metrics on a telemetry listener
	// ([telemetry] listen on 127.0.0.1), so that their hooks run on every
	// connection, login, command and transfer, and writes the audit log
	// and the xferlog ([audit]) to a temporary directory. Measured on
	// its own.
	FeatureTelemetry
	// AllFeatures is the features issue 5 names, at once: PROXY
	// headers, limits, a policy. Tenancy is measured on its own.
	AllFeatures = FeatureProxy | FeatureLimits | FeaturePolicy
	// EveryFeature is issue 17's "every gateway feature on": issue 5's
	// three, and the audit log and the metrics (FeatureTelemetry).
	EveryFeature = AllFeatures | FeatureTelemetry
)

// String names the set: "every", "all", "none", or the features joined
// by "+".
func (f FeatureSet) String() string {
	switch f {
	case EveryFeature:
		return "every"
	case AllFeatures:
		return "all"
	case 0:
		return "none"
	}
	var names []string
	for _, n := range []struct {
		f    FeatureSet
		name string
	}{{FeatureProxy, "proxy"}, {FeatureLimits, "limits"}, {FeaturePolicy, "policy"}, {FeatureTenancy, "tenancy"}, {FeatureTelemetry, "telemetry"}} {
		if f&n.f != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "+")
}

// Features are the gateway features of a feature server, for tests to
// check that each one saw the traffic; a feature not switched on is nil.
type Features struct {
	Proxy   bool // PROXY headers are required
	Limiter *ratelimit.Limiter
	Policy  *policy.Runtime
	Tenancy *tenancy.Driver
	// TelemetryURL is the telemetry listener's base URL.
	TelemetryURL string
}

// FeatureLimitsConfig returns the limiter configuration of a feature server.
func FeatureLimitsConfig() ratelimit.Config {
	l := ratelimit.Limits{
		MaxSessions:  featureSessions,
		CommandRate:  featureCmdRate,
		CommandBurst: featureCmdRate,
		DownloadRate: featureByteRate,
		UploadRate:   featureByteRate,
	}
	return ratelimit.Config{
		ConnRate:       featureConnRate,
		ConnBurst:      featureConnRate,
		MaxConnsPerIP:  featureConns,
		MaxConns:       featureConns,
		LoginFailures:  featureFailures,
		IPDownloadRate: featureByteRate,
		IPUploadRate:   featureByteRate,
		// Set, so that the passive hook runs, but far above what the
		// benchmarks' clients (all on one address) hold.
		PassivePerIP:     featurePassive,
		PassivePerUser:   featurePassive,
		PassivePerTenant: featurePassive,
		User:             l,
		Tenant:           l,
	}
}

// AllowAllPolicy returns a policy module that subscribes to every verb
// ("*") and allows every command unchanged: what it costs is the host's
// side of a policy call (request encoding, instance pool, wasm call,
// deadline), which any policy pays, plus the cheapest possible guest.
func AllowAllPolicy() []byte {
	return testmod.Policy(testmod.ReturnsForTest(0), "*").Bytes()
}

// enableFeatures builds the feature server through the gateway, as
// `ftpgate serve` builds it: d (the benchmarks' plain driver, whose
// settings say where to listen) unless set asks for tenancy, and the
// plugins set asks for, in the gateway's order; argon2, when not nil, are
// the tenancy user's hash parameters. hooks go first among the
// transfer hooks. The server returned is listening; close releases what
// was made, after the server is closed.
func enableFeatures(set FeatureSet, d *driver, hooks []engine.TransferHook, dir string, argon2 *tenancy.Argon2Params, log *slog.Logger) (srv *engine.Server, f *Features, close func(), err error) {
	f = &Features{}
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			close()
		}
	}()
	cfg := gateway.Default()
	opts := gateway.Options{
		Logger:        log,
		WithoutLimits: set&FeatureLimits == 0,
		WithoutPolicy: set&FeaturePolicy == 0,
	}
	if set&FeatureTenancy != 0 {
		tc, stop, err := tenancyConfig(dir, argon2)
		if err != nil {
			return nil, nil, nil, err
		}
		closers = append(closers, stop)
		cfg = tc
	} else {
		cfg.Listen.Control = d.settings.ListenAddr
		opts.Driver, opts.Settings = d, d.settings
		opts.Identity = func(engine.ClientContext) (string, string) { return FeatureTenant, User }
	}
	if set&FeaturePolicy != 0 {
		ctx := context.Background()
		rt, err := policy.NewRuntime(ctx, policy.Config{CallTimeout: featurePolicyTimeout, Logger: log})
		if err != nil {
			return nil, nil, nil, err
		}
		closers = append(closers, func() { _ = rt.Close(ctx) })
		m, err := rt.Compile(ctx, AllowAllPolicy(), nil)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("bench: compiling the allow-all policy: %w", err)
		}
		rt.Install(FeatureTenant, m, policy.Settings{})
		f.Policy = rt
		opts.Policy = gateway.PolicyHooks(rt)
	}
	if set&FeatureProxy != 0 {
		cfg.ProxyProtocol = proxyproto.Section{Config: proxyproto.Config{Mode: proxyproto.Required, Trusted: []string{"127.0.0.1"}}}
		f.Proxy = true
	}
	if set&FeatureLimits != 0 {
		cfg.Limits = FeatureLimitsConfig()
	}
	if set&FeatureTelemetry != 0 {
		cfg.Telemetry.Listen = "127.0.0.1:0"
		// The audit log and the xferlog too, outside the served directory:
		// issue 13's overhead bound is for metrics and audit together.
		logs, err := os.MkdirTemp("", "ftpgate-bench-audit-")
		if err != nil {
			return nil, nil, nil, err
		}
		closers = append(closers, func() { _ = os.RemoveAll(logs) })
		cfg.Audit = audit.Config{File: filepath.Join(logs, "audit.log"), Xferlog: filepath.Join(logs, "xferlog")}
	}
	g, err := gateway.New(cfg, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	closers = append(closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	})
	f.Limiter, f.Tenancy, f.TelemetryURL = g.Limiter(), g.Tenancy(), g.TelemetryURL()
	srv = g.Server()
	srv.TransferHooks = append(slices.Clone(hooks), srv.TransferHooks...)
	return srv, f, close, nil
}

// DialProxied connects to addr as a balancer would: it sends a PROXY
// protocol v2 header naming ProxyClientIP (with the socket's own port) as
// the client before anything else. The connection returned is the bare
// *net.TCPConn, so that uploads keep sendfile on the client side.
func DialProxied(addr string, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	local, ok := conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("bench: not a TCP connection")
	}
	src := &net.TCPAddr{IP: net.ParseIP(ProxyClientIP), Port: local.Port}
	h := pp.HeaderProxyFromAddrs(2, src, conn.RemoteAddr())
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := h.WriteTo(conn); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("bench: writing the PROXY header: %w", err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}
