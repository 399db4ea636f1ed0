package abi

import (
	"errors"
	"reflect"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	t.Parallel()
	in := &Request{Verb: "RNTO", Arg: "b.txt", Path: "/d/b.txt", OtherPaths: []string{"/d/a.txt"}, User: "alice",
		Tenant: "acme", Remote: "127.0.0.1:4000", Host: "ftp.acme", Session: 7, NowMillis: 1700000000123, Flags: FlagTLSControl}
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
		if r.Verb != r2.Verb || r.Path != r2.Path || r.User != r2.User || len(r.OtherPaths) != len(r2.OtherPaths) {
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
