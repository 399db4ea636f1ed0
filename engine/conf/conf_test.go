package conf

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.2.3":            "10.1.2.3/32",
		" 10.1.2.3/24 ":       "10.1.2.0/24",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"::ffff:10.1.2.3":     "10.1.2.3/32",
		"2001:db8::1/32":      "2001:db8::/32",
	} {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for in, want := range map[string]error{
		"":                  ErrPrefix,
		"10.0.0.0/33":       ErrPrefix,
		"example.com":       ErrPrefix,
		"fe80::1%eth0":      ErrPrefixZone,
		"fe80::1%eth0/64":   ErrPrefix, // netip refuses zones in prefixes itself
		"::ffff:10.0.0.0/8": ErrMappedPrefix,
	} {
		if p, err := ParsePrefix(in); !errors.Is(err, want) {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %v", in, p, err, want)
		}
	}
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::ffff:1.2.3.4/100", "::ffff:0.0.0.0/8", "fe80::1%x", "1.2.3.4", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("ParsePrefix(%q) = %v: not a valid masked unmapped prefix", s, p)
		}
		q, err := ParsePrefix(p.String())
		if err != nil || q != p {
			t.Fatalf("round trip of %v: %v, %v", p, q, err)
		}
	})
}

func TestTokenMatches(t *testing.T) {
	d := sha256.Sum256([]byte("s3cret"))
	if !TokenMatches(d[:], "s3cret") {
		t.Error("the right token did not match")
	}
	for _, tok := range []string{"", "s3cre", "s3cret ", "S3cret"} {
		if TokenMatches(d[:], tok) {
			t.Errorf("token %q matched", tok)
		}
	}
	empty := sha256.Sum256(nil)
	if TokenMatches(empty[:], "") || TokenMatches(nil, "x") || TokenMatches(d[:5], "s3cret") {
		t.Error("an empty token or a malformed digest matched")
	}
}

func TestSelfSigned(t *testing.T) {
	now := time.Now()
	c, err := SelfSigned(now, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf == nil || c.Leaf.Subject.CommonName != "test" || !c.Leaf.NotAfter.After(now) {
		t.Fatalf("leaf %+v", c.Leaf)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost", CurrentTime: now}); err != nil {
		t.Errorf("verify for localhost: %v", err)
	}
	if err := c.Leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("verify for 127.0.0.1: %v", err)
	}
}
