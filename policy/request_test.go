package policy

import (
	"net"
	"reflect"
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
}

func (f fakeSession) User() string             { return f.user }
func (f fakeSession) ID() uint32               { return 42 }
func (f fakeSession) RemoteAddr() net.Addr     { return &net.TCPAddr{IP: net.IPv6loopback, Port: 5000} }
func (f fakeSession) HostName() string         { return "" }
func (f fakeSession) TLSServerName() string    { return "ftp.acme.test" }
func (f fakeSession) HasTLSForControl() bool   { return f.tls }
func (f fakeSession) HasTLSForTransfers() bool { return false }
func (f fakeSession) LoggedIn() bool           { return f.user != "" }

func TestRequestFor(t *testing.T) {
	t.Parallel()
	s := fakeSession{user: "alice", tls: true}
	got := RequestFor(&engine.Command{Session: s, Verb: "RNTO", Arg: "b", Paths: []string{"/a", "/b"}}, "acme")
	want := abi.Request{Verb: "RNTO", Arg: "b", Path: "/b", OtherPaths: []string{"/a"}, User: "alice", Tenant: "acme",
		Remote: "[::1]:5000", Host: "ftp.acme.test", Session: 42, Flags: abi.FlagTLSControl | abi.FlagLoggedIn}
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
