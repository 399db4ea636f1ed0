package main

import (
	"crypto/tls"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// selfSignedCertificate makes a throwaway certificate for localhost and the
// loopback addresses, valid for a year, so that the embedded default can
// offer FTPS without any files. Clients must be told not to verify it.
func selfSignedCertificate(now time.Time) (tls.Certificate, error) {
	return conf.SelfSigned(now, "ftpgate self-signed", 365*24*time.Hour)
}
