package console_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// certPEM returns a self-signed certificate valid until notAfter (the
// server's own kind, conf.SelfSigned) and its key, both PEM.
func certPEM(t *testing.T, notAfter time.Time) (cert, key string) {
	t.Helper()
	const validity = 365 * 24 * time.Hour
	c, err := conf.SelfSigned(notAfter.Add(-validity), "ftp.acme.test", validity)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

// acmeCertShown is how the console shows the certificate withAcmeCert
// gives acme.
const acmeCertShown = "ftp.acme.test: valid until 2031-03-14 15:09:26 UTC"

// withAcmeCert gives acme in files a certificate of its own for
// ftp.acme.test, valid until 2031-03-14 15:09:26 UTC.
func withAcmeCert(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	files["tenants/acme.pem"], files["tenants/acme.key"] = certPEM(t, time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC))
	files["tenants/acme.toml"] += "[[certificates]]\nhostname = \"ftp.acme.test\"\ncert = \"acme.pem\"\nkey = \"acme.key\"\n"
	return files
}

// TestTenantCertificateExpiry: a tenant with a certificate of its own
// (for ftp.acme.test, valid until a known second) has that date on the
// tenants page for the operator and on its own page for its admin;
// another tenant's admin sees neither the date nor the page.
func TestTenantCertificateExpiry(t *testing.T) {
	f, _ := run(t, withAcmeCert(t, standardFiles(t)), false)

	op := f.browser(t)
	op.login("", opToken)
	for _, p := range []string{"/console/tenants", "/console/t/acme/"} {
		if r := op.get(p); r.StatusCode != http.StatusOK || !strings.Contains(r.body, acmeCertShown) {
			t.Errorf("operator GET %s: %d, want %q in %q", p, r.StatusCode, acmeCertShown, r.body)
		}
	}
	acme := f.browser(t)
	acme.login("acme", acmeToken)
	if r := acme.get("/console/t/acme/"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, acmeCertShown) {
		t.Errorf("acme's admin on its own page: %d, want %q in %q", r.StatusCode, acmeCertShown, r.body)
	}
	globex := f.browser(t)
	globex.login("globex", globexToken)
	if r := globex.get("/console/t/globex/"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "none of its own") {
		t.Errorf("globex's admin on its own page: %d %q", r.StatusCode, r.body)
	}
	for _, p := range []string{"/console/t/globex/", "/console/t/acme/", "/console/tenants", "/console/t/acme/policy"} {
		if r := globex.get(p); strings.Contains(r.body, "2031-03-14") || strings.Contains(r.body, "ftp.acme.test") ||
			(p != "/console/t/globex/" && r.StatusCode == http.StatusOK) {
			t.Errorf("globex's admin GET %s: %d, shows acme's certificate or page: %.300q", p, r.StatusCode, r.body)
		}
	}
}
