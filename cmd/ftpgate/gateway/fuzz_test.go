package gateway

import (
	"testing"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// FuzzParse: any bytes give a Config or errors, each naming the file, and
// never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[tenants]\ndir = \".\"\n[proxy_protocol]\nmode = \"required\"\ntrusted = [\"10.0.0.0/8\", \"::1\"]\npassive_hosts = [\"10.0.0.0/8=10.0.0.1\"]\n"))
	f.Add([]byte("[passive]\nports = \"1-2\"\n[timeouts]\nidle = \"-1s\"\n[limits.tenants.a]\nmax_sessions = \"x\"\n"))
	f.Add([]byte("listen = 1\n[[tls]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("/t/server.toml", data)
		if err == nil {
			return
		}
		es, ok := err.(conf.Errors)
		if !ok || len(es) == 0 {
			t.Fatalf("error %T %v: want conf.Errors", err, err)
		}
		for _, e := range es {
			if e.File != "/t/server.toml" {
				t.Fatalf("error without the file: %v", e)
			}
		}
	})
}
