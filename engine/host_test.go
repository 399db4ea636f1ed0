package engine

import (
	"errors"
	"sync"
	"testing"
)

// hostDriver serves the virtual hosts in hosts (RFC 7151) and records the
// HOST name each login saw.
type hostDriver struct {
	*testDriver
	hosts map[string]bool

	mu        sync.Mutex
	authHosts []string
}

func (d *hostDriver) CheckHost(_ ClientContext, host string) error {
	if !d.hosts[host] {
		return errors.New("not served here")
	}
	return nil
}

func (d *hostDriver) AuthUser(cc ClientContext, user, pass string) (ClientDriver, error) {
	d.mu.Lock()
	d.authHosts = append(d.authHosts, cc.HostName())
	d.mu.Unlock()
	return d.testDriver.AuthUser(cc, user, pass)
}

func (d *hostDriver) lastAuthHost(t *testing.T) string {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.authHosts) == 0 {
		t.Fatal("AuthUser was not called")
	}
	return d.authHosts[len(d.authHosts)-1]
}

func withHosts(hosts ...string) (*hostDriver, serverOption) {
	hd := &hostDriver{hosts: map[string]bool{}}
	for _, h := range hosts {
		hd.hosts[h] = true
	}
	return hd, onServer(func(srv *Server) {
		hd.testDriver = srv.Driver.(*testDriver)
		srv.Driver = hd
	})
}

func TestHOSTSelectsAVirtualHostBeforeLogin(t *testing.T) {
	t.Parallel()
	hd, opt := withHosts("ftp.example.com", "[::1]")
	ts := newTestServer(t, opt)

	c := ts.dial(t)
	ptRun(t, c, []ptStep{
		{"HOST other.example.com", 504, ""}, // not served: the driver says no
		{"HOST bad host", 501, ""},
		{"HOST ", 501, ""},
		{"HOST ftp.example.com", 220, ""},
		{"USER test", 331, ""},
		{"HOST ftp.example.com", 503, ""}, // after USER, too late
		{"PASS test", 230, ""},
		{"HOST ftp.example.com", 503, ""},
	})
	if got := hd.lastAuthHost(t); got != "ftp.example.com" {
		t.Fatalf("AuthUser saw HOST %q", got)
	}
	// REIN forgets the host; a login without HOST sees none.
	c.expect("REIN", 220)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	if got := hd.lastAuthHost(t); got != "" {
		t.Fatalf("after REIN, AuthUser saw HOST %q", got)
	}

	// An IPv6 literal keeps its brackets.
	c6 := ts.dial(t)
	c6.expect("HOST [::1]", 220)
	c6.expect("USER test", 331)
	c6.expect("PASS test", 230)
	if got := hd.lastAuthHost(t); got != "[::1]" {
		t.Fatalf("AuthUser saw HOST %q", got)
	}
}

func TestHOSTWithoutDriverSupportAcceptsAnyName(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial(t)
	c.expect("HOST anything.example.org", 220)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	if got := ts.lastContext(t).HostName(); got != "anything.example.org" {
		t.Fatalf("HostName %q", got)
	}
}
