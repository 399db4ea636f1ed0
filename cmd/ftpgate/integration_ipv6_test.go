package main

import (
	"path/filepath"
	"testing"
)

// IPv6 with lftp and with TLS: the IPv6 cases of integration_test.go cover
// curl and ftplib over plain connections.
func TestIntegrationIPv6TLS(t *testing.T) {
	lftp := requireTool(t, "lftp")
	curl := requireTool(t, "curl")
	if !ipv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	srv := startServer(t, "::1")
	local := t.TempDir()
	src := filepath.Join(local, "src.bin")
	sum := writeFile(t, src, 1<<20+3, "v6")

	t.Run("lftp", func(t *testing.T) {
		for _, tls := range []bool{false, true} {
			name := "lftp6.bin"
			if tls {
				name = "lftp6-tls.bin"
			}
			out := filepath.Join(local, name)
			lftpScript(t, lftp, srv, tls, "put "+src+" -o "+name, "get "+name+" -o "+out)
			sameFile(t, filepath.Join(srv.root, name), sum)
			sameFile(t, out, sum)
		}
	})

	t.Run("curl-explicit-and-implicit-tls", func(t *testing.T) {
		auth := itUser + ":" + itPassword
		runClient(t, curl, "-sS", "-g", "-k", "--ssl-reqd", "-u", auth, "-T", src, srv.url("ftp", "curl6-tls.bin"))
		sameFile(t, filepath.Join(srv.root, "curl6-tls.bin"), sum)
		out := filepath.Join(local, "curl6-tls.bin")
		runClient(t, curl, "-sS", "-g", "-k", "-u", auth, "-o", out, srv.url("ftps", "curl6-tls.bin"))
		sameFile(t, out, sum)
	})
}
