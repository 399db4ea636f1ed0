package abi

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	t.Parallel()
	in := &Request{Verb: "RNTO", Arg: "b.txt", Path: "/d/b.txt", OtherPaths: []string{"/d/a.txt"}, User: "alice",
		Tenant: "acme", Remote: "127.0.0.1:4000", Host: "ftp.acme", Session: 7, NowMillis: 1700000000123, Flags: FlagTLSControl,
		Minor: Minor, Login: "alice@acme", Op: "RNTO", Home: "/home/alice", TenantPath: "/home/alice/d/b.txt",
		OtherTenantPaths: []string{"/home/alice/d/a.txt"}}
	b, err := AppendRequest(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	// An unknown tag in the middle must be skipped.
	b = append(AppendField(nil, 200, "future"), b...)
	out, err := ParseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
}

// TestRequestOfAOneZeroGuestsView: a request of 1.1 is still a valid 1.0
// request: a parser that knows only the tags of 1.0 and skips others (as
// the ABI requires) reads the same verb, paths and user.
func TestRequestOfAOneZeroGuestsView(t *testing.T) {
	t.Parallel()
	b, err := AppendRequest(nil, &Request{Verb: "SITE", Arg: "RMDIR d", Path: "/d", User: "bob", Login: "bob@acme",
		TenantPath: "/bob/d", Home: "/bob"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[byte]string{}
	if err := Fields(b, func(tag byte, v []byte) error {
		if tag <= TagHost {
			got[tag] = string(v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got[TagVerb] != "SITE" || got[TagPath] != "/d" || got[TagUser] != "bob" || got[TagArg] != "RMDIR d" {
		t.Fatalf("1.0 fields: %q", got)
	}
	r, err := ParseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Minor != Minor || r.Op != "SITE RMDIR" {
		t.Fatalf("minor %d op %q", r.Minor, r.Op)
	}
}

func TestOpOf(t *testing.T) {
	t.Parallel()
	cases := []struct{ verb, arg, want string }{
		{"STOR", "a", "STOR"},
		{"XMKD", "d", "MKD"},
		{"XRMD", "d", "RMD"},
		{"XCWD", "d", "CWD"},
		{"XCUP", "", "CDUP"},
		{"XPWD", "", "PWD"},
		{"SITE", "rmdir /d", "SITE RMDIR"},
		{"SITE", "  Symlink a b", "SITE SYMLINK"},
		{"SITE", "CHMOD 777 x", "SITE CHMOD"},
		{"SITE", "", "SITE"},
		{"MDTM", "20260102030405 f", "MFMT"},
		{"MDTM", "20260102030405.123 f", "MFMT"},
		{"MDTM", "20260102030405", "MDTM"},
		{"MDTM", "2026010203040 f", "MDTM"},
		{"MDTM", "20260102030405. f", "MDTM"},
		{"MDTM", "f", "MDTM"},
	}
	for _, c := range cases {
		if got := OpOf(c.verb, c.arg); got != c.want {
			t.Errorf("OpOf(%q, %q) = %q, want %q", c.verb, c.arg, got, c.want)
		}
	}
	// ToUpper as the server applies it: the dotless i folds to I.
	if got := OpOf("SITE", "rmdır x"); got != "SITE RMDIR" {
		t.Errorf("dotless i: %q, want SITE RMDIR, as the server's ToUpper reads it", got)
	}
	if OpVerb("SITE RMDIR") != "SITE" || OpVerb("MKD") != "MKD" {
		t.Error("OpVerb")
	}
}

// FuzzOpOf: any verb and argument give an operation whose verb part is
// the verb itself or the canonical name of an alias, and SITE's
// subcommand is the upper-cased first word of the trimmed argument.
func FuzzOpOf(f *testing.F) {
	f.Add("SITE", "RMDIR x")
	f.Add("MDTM", "20260102030405.5 x")
	f.Add("XRMD", "x")
	f.Fuzz(func(t *testing.T, verb, arg string) {
		op := OpOf(verb, arg)
		switch v := OpVerb(op); {
		case verb == "MDTM" && v == "MFMT":
		case verb == "SITE":
			if op == "SITE" {
				if strings.TrimSpace(arg) != "" {
					t.Fatalf("SITE %q: no subcommand", arg)
				}
				break
			}
			sub, _, _ := strings.Cut(strings.TrimSpace(arg), " ")
			if op != "SITE "+strings.ToUpper(sub) {
				t.Fatalf("SITE %q: op %q", arg, op)
			}
		case len(verb) == 4 && verb[0] == 'X' && v == verb[1:]:
		case verb == "XCUP" && v == "CDUP":
		default:
			if op != verb {
				t.Fatalf("OpOf(%q, %q) = %q", verb, arg, op)
			}
		}
	})
}

func TestRequestTooLong(t *testing.T) {
	t.Parallel()
	long := make([]byte, MaxFieldLen+1)
	if _, err := AppendRequest(nil, &Request{Verb: "CWD", Path: string(long)}); !errors.Is(err, ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
}

func TestResponseRoundTrip(t *testing.T) {
	t.Parallel()
	in := &Response{Action: ActionRewrite, Code: 553, Message: "moved", NewPath: "/q/x", HasNewPath: true,
		MaxBytes: 10, HasMaxBytes: true, Annotations: []string{"k=v"}}
	out, err := ParseResponse(AppendResponse(nil, in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("got %+v, want %+v", out, in)
	}
	if b := AppendResponse(nil, &Response{}); len(b) != 0 {
		t.Fatalf("plain allow encodes as %d bytes, want 0", len(b))
	}
}

func TestResponseRejects(t *testing.T) {
	t.Parallel()
	cases := map[string][]byte{
		"truncated header": {1, 1},
		"truncated value":  {3, 10, 0, 'a'},
		"unknown action":   {1, 1, 0, 9},
		"wide action":      {1, 2, 0, 1, 0},
		"short code":       {2, 1, 0, 5},
		"short max":        {5, 4, 0, 1, 2, 3, 4},
		"too big":          make([]byte, MaxResponseLen+1),
	}
	for name, b := range cases {
		if _, err := ParseResponse(b); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
	var many []byte
	for range MaxAnnotations + 1 {
		many = AppendField(many, TagAnnotation, "a=b")
	}
	if _, err := ParseResponse(many); err == nil {
		t.Error("too many annotations accepted")
	}
}

func FuzzParseRequest(f *testing.F) {
	b, _ := AppendRequest(nil, &Request{Verb: "STOR", Path: "/a.exe", User: "u", Session: 1})
	f.Add(b)
	f.Add([]byte{1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			return
		}
		// Whatever parses must re-encode and parse to the same request,
		// apart from the fields the encoder leaves out when empty.
		b2, err := AppendRequest(nil, r)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		r2, err := ParseRequest(b2)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if r.Verb != r2.Verb || r.Path != r2.Path || r.User != r2.User || len(r.OtherPaths) != len(r2.OtherPaths) ||
			r.TenantPath != r2.TenantPath || len(r.OtherTenantPaths) != len(r2.OtherTenantPaths) || r.Login != r2.Login ||
			r.Home != r2.Home || r2.Minor != Minor || r2.Op == "" && r2.Verb != "" {
			t.Fatalf("round trip changed the request: %+v vs %+v", r, r2)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add(AppendResponse(nil, &Response{Action: ActionDeny, Code: 550, Message: "no"}))
	f.Add(AppendResponse(nil, &Response{Action: ActionRewrite, NewPath: "/x", HasNewPath: true, MaxBytes: 3, HasMaxBytes: true}))
	f.Add([]byte{1, 1, 0, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			return
		}
		if r.Action > ActionRewrite || len(r.Annotations) > MaxAnnotations || len(b) > MaxResponseLen {
			t.Fatalf("accepted an invalid response: %+v", r)
		}
		r2, err := ParseResponse(AppendResponse(nil, r))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if r2.Action != r.Action || r2.Code != r.Code || r2.Message != r.Message || r2.NewPath != r.NewPath || r2.MaxBytes != r.MaxBytes {
			t.Fatalf("round trip changed the response: %+v vs %+v", r, r2)
		}
	})
}
