package policy

import (
	"errors"
	"net"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy/abi"
)

// fakeSession implements the ClientContext methods RequestFor uses; the
// embedded nil interface makes any other call fail loudly.
type fakeSession struct {
	engine.ClientContext
	user string
	tls  bool
	out  bool // not logged in although a user name was given
}

func (f fakeSession) User() string             { return f.user }
func (f fakeSession) ID() uint32               { return 42 }
func (f fakeSession) RemoteAddr() net.Addr     { return &net.TCPAddr{IP: net.IPv6loopback, Port: 5000} }
func (f fakeSession) HostName() string         { return "" }
func (f fakeSession) TLSServerName() string    { return "ftp.acme.test" }
func (f fakeSession) HasTLSForControl() bool   { return f.tls }
func (f fakeSession) HasTLSForTransfers() bool { return false }
func (f fakeSession) LoggedIn() bool           { return f.user != "" && !f.out }

func TestRequestFor(t *testing.T) {
	t.Parallel()
	s := fakeSession{user: "alice", tls: true}
	got := RequestFor(&engine.Command{Session: s, Verb: "RNTO", Arg: "b", Paths: []string{"/a", "/b"}}, "acme")
	want := abi.Request{Verb: "RNTO", Arg: "b", Path: "/b", OtherPaths: []string{"/a"}, User: "alice", Tenant: "acme",
		Remote: "[::1]:5000", Host: "ftp.acme.test", Session: 42, Flags: abi.FlagTLSControl | abi.FlagLoggedIn,
		Login: "alice", Op: "RNTO"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RNTO: got %+v, want %+v", got, want)
	}
	got = RequestFor(&engine.Command{Session: fakeSession{}, Verb: "PASS", Arg: "hunter2"}, "acme")
	if got.Arg != "" || got.Path != "" || got.Flags != 0 {
		t.Fatalf("PASS leaked or gained fields: %+v", got)
	}
	got = RequestFor(&engine.Command{Session: s, Verb: "COMB", Paths: []string{"/t", "/p1", "/p2"}}, "acme")
	if got.Path != "/t" || !reflect.DeepEqual(got.OtherPaths, []string{"/p1", "/p2"}) {
		t.Fatalf("COMB: %+v", got)
	}
}

// TestRequestIdentityAndTenantPaths: with Identity and TenantPath, a
// logged-in session's request names the resolved user beside the login
// as typed, the home, and every path inside the tenant; before login the
// user is the name as typed (as ABI 1.0 sent it) and no tenant path or
// home is given.
func TestRequestIdentityAndTenantPaths(t *testing.T) {
	t.Parallel()
	h := &Hooks{
		Identity: func(engine.ClientContext) (string, string) { return "acme", "bob" },
		TenantPath: func(_ engine.ClientContext, name string) (string, error) {
			if strings.Contains(name, "broken") {
				return "", errors.New("link loop")
			}
			if name == "/link/x" {
				return "/shared/x", nil // a link inside the home leads elsewhere
			}
			return path.Join("/homes/bob", name), nil
		},
	}
	s := fakeSession{user: "bob@acme"}
	got := h.Request(&engine.Command{Session: s, Verb: "COMB", Arg: "t p1 p2", Paths: []string{"/t", "/link/x", "/p2"}}, "acme")
	want := abi.Request{Verb: "COMB", Arg: "t p1 p2", Path: "/t", OtherPaths: []string{"/link/x", "/p2"}, User: "bob", Login: "bob@acme",
		Tenant: "acme", Remote: "[::1]:5000", Host: "ftp.acme.test", Session: 42, Flags: abi.FlagLoggedIn, Op: "COMB",
		Home: "/homes/bob", TenantPath: "/homes/bob/t", OtherTenantPaths: []string{"/shared/x", "/homes/bob/p2"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("COMB:\ngot  %+v\nwant %+v", got, want)
	}
	got = h.Request(&engine.Command{Session: s, Verb: "SITE", Arg: "rmdir d", Paths: []string{"/d"}}, "acme")
	if got.Op != "SITE RMDIR" || got.TenantPath != "/homes/bob/d" {
		t.Fatalf("SITE RMDIR: %+v", got)
	}
	// One path that cannot be mapped: no tenant paths and no home at all.
	got = h.Request(&engine.Command{Session: s, Verb: "RNTO", Paths: []string{"/broken/a", "/b"}}, "acme")
	if got.TenantPath != "" || got.OtherTenantPaths != nil || got.Home != "" || got.Path != "/b" {
		t.Fatalf("RNTO with an unmappable source: %+v", got)
	}
	// Before login: the name as typed in both fields, nothing resolved.
	pre := fakeSession{user: "bob@acme", out: true}
	got = h.Request(&engine.Command{Session: pre, Verb: "PASS", Arg: "pw"}, "acme")
	if got.User != "bob@acme" || got.Login != "bob@acme" || got.Home != "" || got.Arg != "" || got.Flags&abi.FlagLoggedIn != 0 {
		t.Fatalf("PASS: %+v", got)
	}
}
