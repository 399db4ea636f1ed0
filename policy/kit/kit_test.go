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
