package gateway

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/engine/conf"
)

// PolicyConfig is [policy]: the policy runtime's settings (--policy-*).
type PolicyConfig struct {
	// Dir keeps uploaded policies across restarts.
	Dir string `toml:"dir"`
	// Timeout is the deadline of one policy call, 1ms to 5s.
	Timeout conf.Duration `toml:"timeout"`
	// MemoryPages caps a policy instance's memory, in 64 KiB pages, 1 to
	// 65536.
	MemoryPages int `toml:"memory_pages"`
}

// AdminConfig is [admin]: the admin HTTP plane (--admin-*). An empty
// Listen serves none.
type AdminConfig struct {
	// Listen is the admin API's address; one that is not loopback needs
	// TLSCert, so that tokens never cross a network in clear text.
	Listen string `toml:"listen"`
	// TokenFile holds the operator token (else $FTPGATE_ADMIN_TOKEN).
	TokenFile string `toml:"token_file"`
	// TLSCert and TLSKey serve the admin API over HTTPS.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Console serves the web console under /console on the admin
	// listener (cmd/ftpgate/gateway/console).
	Console bool `toml:"console"`
}

// CheckPolicyTimeout checks a policy call's deadline.
func CheckPolicyTimeout(d time.Duration) error {
	if d < time.Millisecond || d > 5*time.Second {
		return errors.New("want 1ms to 5s")
	}
	return nil
}

// CheckMemoryPages checks a policy instance's memory limit.
func CheckMemoryPages(n int) error {
	if n < 1 || n > 65536 {
		return errors.New("want 1 to 65536")
	}
	return nil
}

// ErrAdminInClear is CheckAdminListen's answer for an address that is
// not loopback without TLS; callers name their own TLS setting.
var ErrAdminInClear = errors.New("not a loopback address; serving tokens in clear text needs TLS")

// CheckAdminListen checks the admin API's address: HOST:PORT, and a
// loopback host unless withTLS.
func CheckAdminListen(addr string, withTLS bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT", addr)
	}
	ip := net.ParseIP(host)
	if loopback := host == "localhost" || (ip != nil && ip.IsLoopback()); !loopback && !withTLS {
		return ErrAdminInClear
	}
	return nil
}

// Validate checks [policy]; keys are relative to the section.
func (p PolicyConfig) Validate() error {
	var errs conf.Errors
	if err := CheckPolicyTimeout(time.Duration(p.Timeout)); err != nil {
		errs = append(errs, &conf.Error{Key: "timeout", Msg: fmt.Sprintf("%s: %v", p.Timeout, err)})
	}
	if err := CheckMemoryPages(p.MemoryPages); err != nil {
		errs = append(errs, &conf.Error{Key: "memory_pages", Msg: fmt.Sprintf("%d: %v", p.MemoryPages, err)})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Validate checks [admin]; keys are relative to the section.
func (a AdminConfig) Validate() error {
	var errs conf.Errors
	if (a.TLSCert == "") != (a.TLSKey == "") {
		errs = append(errs, &conf.Error{Key: "tls_cert", Msg: "admin.tls_cert and admin.tls_key go together"})
	}
	if a.Listen != "" {
		switch err := CheckAdminListen(a.Listen, a.TLSCert != ""); {
		case errors.Is(err, ErrAdminInClear):
			errs = append(errs, &conf.Error{Key: "listen", Msg: fmt.Sprintf("%q is not a loopback address; serving tokens in clear text needs admin.tls_cert and admin.tls_key", a.Listen)})
		case err != nil:
			errs = append(errs, &conf.Error{Key: "listen", Msg: err.Error()})
		}
		if a.TokenFile != "" { // read at start; $FTPGATE_ADMIN_TOKEN is not checked here
			if _, err := admin.OperatorToken(a.TokenFile); err != nil {
				errs = append(errs, &conf.Error{Key: "token_file", Msg: err.Error()})
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
