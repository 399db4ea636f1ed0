package main

import (
	"flag"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/telemetry"
)

// registerTelemetryFlags adds the --telemetry-* flags, bound onto t
// ([telemetry]); with --config the ones given win over the file
// (gateway.Config.Override).
func registerTelemetryFlags(fs *flag.FlagSet, t *telemetry.Config) {
	fs.StringVar(&t.Listen, "telemetry-listen", "", "`address` of the telemetry listener: /livez, /readyz, /metrics (off when empty; loopback unless --telemetry-tls-cert or --telemetry-token-file)")
	fs.StringVar(&t.TokenFile, "telemetry-token-file", "", "`file` holding the bearer token /metrics asks for (at least 16 characters)")
	fs.StringVar(&t.TLSCert, "telemetry-tls-cert", "", "PEM certificate `file` to serve the telemetry listener over HTTPS")
	fs.StringVar(&t.TLSKey, "telemetry-tls-key", "", "PEM private key `file` for --telemetry-tls-cert")
	fs.IntVar(&t.MaxTenantLabels, "telemetry-max-tenant-labels", t.MaxTenantLabels, "distinct tenants that get a metrics label of their own; later ones share \"other\" (1 to 10000)")
}
