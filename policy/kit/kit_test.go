package kit

import (
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy/abi"
)

// TestCheck drives the kit as the wasm export does: encoded request in,
// encoded response out, parsed by the host's parser.
func TestCheck(t *testing.T) {
	var seen Request
	Handle(func(r *Request) Decision {
		seen = *r
		seen.OtherPaths = append([]string(nil), r.OtherPaths...)
		switch r.Verb {
		case "DELE":
			return Deny(550, "no")
		case "STOR":
			return Rewrite("/q"+r.Path).WithMax(5).Annotate("k", "v")
		case "APPE":
			return AllowMax(-3)
		}
		return Allow()
	})
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	req, _ := abi.AppendRequest(nil, &abi.Request{Verb: "RNTO", Path: "/b", OtherPaths: []string{"/a"}, User: "alice",
		Tenant: "acme", Remote: "[::1]:2000", Session: 9, NowMillis: uint64(now.UnixMilli()), Flags: abi.FlagTLSControl | abi.FlagLoggedIn})
	if resp := Check(append(req, 99, 1, 0, 'x')); resp != nil {
		t.Fatalf("allow encoded as %v", resp)
	}
	if seen.Verb != "RNTO" || seen.Path != "/b" || len(seen.OtherPaths) != 1 || seen.OtherPaths[0] != "/a" || seen.User != "alice" ||
		seen.ClientIP() != "::1" || !seen.Now.Equal(now) || !seen.TLS() || !seen.LoggedIn() || seen.Session != 9 {
		t.Fatalf("decoded %+v", seen)
	}
	cases := map[string]abi.Response{
		"DELE": {Action: abi.ActionDeny, Code: 550, Message: "no"},
		"STOR": {Action: abi.ActionRewrite, NewPath: "/q/x", HasNewPath: true, MaxBytes: 5, HasMaxBytes: true, Annotations: []string{"k=v"}},
		"APPE": {HasMaxBytes: true},
	}
	for verb, want := range cases {
		req, _ := abi.AppendRequest(nil, &abi.Request{Verb: verb, Path: "/x"})
		got, err := abi.ParseResponse(Check(req))
		if err != nil {
			t.Fatalf("%s: %v", verb, err)
		}
		if got.Action != want.Action || got.Code != want.Code || got.Message != want.Message || got.NewPath != want.NewPath ||
			got.MaxBytes != want.MaxBytes || got.HasMaxBytes != want.HasMaxBytes || len(got.Annotations) != len(want.Annotations) {
			t.Errorf("%s: got %+v, want %+v", verb, got, want)
		}
	}
}

func TestSubscribe(t *testing.T) {
	Subscribe("stor", "DELE")
	if string(subscriptions) != "STOR,DELE" {
		t.Fatalf("subscriptions %q", subscriptions)
	}
}

// FuzzCheck: whatever the request bytes, the kit answers without
// panicking and with a response the host can parse.
func FuzzCheck(f *testing.F) {
	req, _ := abi.AppendRequest(nil, &abi.Request{Verb: "STOR", Path: "/a"})
	f.Add(req)
	f.Add([]byte{1, 200, 0})
	Handle(func(r *Request) Decision { return Deny(550, r.Path) })
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := abi.ParseResponse(Check(b)); err != nil && len(b) < abi.MaxResponseLen-16 {
			t.Fatalf("unparsable response: %v", err)
		}
	})
}

func TestRunInit(t *testing.T) {
	if err := RunInit([]byte("x")); err != nil {
		t.Fatalf("no init registered: %v", err)
	}
	var got string
	Init(func(c []byte) error { got = string(c); return nil })
	defer Init(nil)
	if err := RunInit([]byte("max_bytes=5")); err != nil || got != "max_bytes=5" {
		t.Fatalf("RunInit: %v, config %q", err, got)
	}
}

// decoded runs one request through Check and returns what the handler saw.
func decoded(t *testing.T, req *abi.Request) Request {
	t.Helper()
	var seen Request
	Handle(func(r *Request) Decision {
		seen = *r
		seen.OtherPaths = append([]string(nil), r.OtherPaths...)
		seen.OtherTenantPaths = append([]string(nil), r.OtherTenantPaths...)
		return Allow()
	})
	defer Handle(func(*Request) Decision { return Allow() })
	b, err := abi.AppendRequest(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	Check(b)
	return seen
}

// TestDecodeOneOne: the fields of ABI 1.1 reach the handler; the user is
// the resolved one only once logged in, and a request from a 1.0 host
// (no minor tag) still gives an operation and a login.
func TestDecodeOneOne(t *testing.T) {
	r := decoded(t, &abi.Request{Verb: "SITE", Arg: "symlink /a /b", Path: "/a", OtherPaths: []string{"/b"},
		TenantPath: "/h/a", OtherTenantPaths: []string{"/h/b"}, Home: "/h", User: "bob", Login: "bob@acme", Flags: abi.FlagLoggedIn})
	if r.Op != "SITE SYMLINK" || r.User != "bob" || r.Login != "bob@acme" || r.Home != "/h" || r.Minor != abi.Minor ||
		!r.TenantPathsKnown() || len(r.Reached()) != 2 || r.Reached()[1] != "/h/b" {
		t.Fatalf("decoded %+v", r)
	}
	if s, tp := r.Target(); s != "/b" || tp != "/h/b" {
		t.Fatalf("SITE SYMLINK target %q %q, want the link", s, tp)
	}
	r = decoded(t, &abi.Request{Verb: "PASS", User: "bob@acme", Login: "bob@acme"})
	if r.User != "" || r.Login != "bob@acme" {
		t.Fatalf("before login: user %q login %q", r.User, r.Login)
	}
	// A 1.0 host: strip the tags of 1.1.
	b, _ := abi.AppendRequest(nil, &abi.Request{Verb: "XRMD", Path: "/d", User: "bob@acme", Flags: abi.FlagLoggedIn})
	var old []byte
	_ = abi.Fields(b, func(tag byte, v []byte) error {
		if tag <= abi.TagHost {
			old = abi.AppendField(old, tag, string(v))
		}
		return nil
	})
	var seen Request
	Handle(func(r *Request) Decision { seen = *r; return Allow() })
	Check(old)
	if seen.Op != "RMD" || seen.Minor != 0 || seen.Login != "bob@acme" || seen.User != "bob@acme" || seen.TenantPaths() != nil ||
		len(seen.Reached()) != 1 || seen.Reached()[0] != "/d" || !seen.Deletes() {
		t.Fatalf("1.0 request decoded as %+v", seen)
	}
	// Half a mapping is dropped.
	r = decoded(t, &abi.Request{Verb: "RNTO", Path: "/b", OtherPaths: []string{"/a"}, TenantPath: "/h/b", Flags: abi.FlagLoggedIn})
	if r.TenantPath != "" || r.TenantPaths() != nil || r.Reached()[0] != "/b" {
		t.Fatalf("half a mapping: %+v", r)
	}
}

func TestClassification(t *testing.T) {
	cases := []struct {
		verb, arg        string
		deletes, changes bool
	}{
		{"DELE", "x", true, true},
		{"XRMD", "x", true, true},
		{"SITE", "RMDIR x", true, true},
		{"COMB", "t a b", true, true},
		{"SITE", "chmod 600 x", false, true},
		{"SITE", "SYMLINK a b", false, true},
		{"SITE", "MKDIR x", false, true},
		{"SITE", "WHATEVER x", false, true},
		{"SITE", "HELP", false, false},
		{"SITE", "idle 60", false, false},
		{"MDTM", "20260102030405 x", false, true},
		{"MDTM", "x", false, false},
		{"MFMT", "20260102030405 x", false, true},
		{"RNFR", "x", false, true},
		{"XMKD", "x", false, true},
		{"STOU", "", false, true},
		{"RETR", "x", false, false},
		{"LIST", "", false, false},
	}
	for _, c := range cases {
		r := Request{Verb: c.verb, Arg: c.arg, Op: abi.OpOf(c.verb, c.arg)}
		if r.Deletes() != c.deletes || r.Changes() != c.changes {
			t.Errorf("%s %s: deletes %v changes %v", c.verb, c.arg, r.Deletes(), r.Changes())
		}
		if c.changes && !contains(ChangeVerbs(), abi.OpVerb(r.Op)) {
			t.Errorf("%s: %s missing from ChangeVerbs", c.verb, abi.OpVerb(r.Op))
		}
		if c.deletes && !contains(DeleteVerbs(), abi.OpVerb(r.Op)) {
			t.Errorf("%s: %s missing from DeleteVerbs", c.verb, abi.OpVerb(r.Op))
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestSessionPath(t *testing.T) {
	cases := []struct{ home, in, want string }{
		{"/", "/a/b", "/a/b"},
		{"/h", "/h", "/"},
		{"/h", "/h/a", "/a"},
		{"/h", "/hx/a", ""},
		{"/h", "/other", ""},
		{"", "/a", ""},
	}
	for _, c := range cases {
		r := Request{Home: c.home}
		got, ok := r.SessionPath(c.in)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("home %q, %q: got %q %v, want %q", c.home, c.in, got, ok, c.want)
		}
	}
}
