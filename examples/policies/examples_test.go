package policies_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/policy/abi"
	"github.com/ftpgate/ftpgate/policy/policytest"
)

var builder policytest.Builder

type step struct {
	verb, path string
	other      []string
	now        time.Time
	want       policy.Decision
}

var (
	weekday = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC) // a Wednesday
	night   = time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC)
	sunday  = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
)

func allow() policy.Decision { return policy.Decision{Action: policy.Allow} }
func deny(code int, msg string) policy.Decision {
	return policy.Decision{Action: policy.Deny, Code: code, Message: msg}
}

func TestExamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		dir    string
		config string
		subs   int // number of verbs subscribed
		steps  []step
	}{
		{dir: "deny-delete", subs: 3, steps: []step{
			{verb: "DELE", path: "/a.txt", want: deny(550, "Deleting is disabled for this tenant.")},
			{verb: "RMD", path: "/d", want: deny(550, "Deleting is disabled for this tenant.")},
			{verb: "STOR", path: "/a.txt", want: allow()},
		}},
		{dir: "extension-allowlist", subs: 4, steps: []step{
			{verb: "STOR", path: "/a.exe", want: deny(553, "File type .exe is not allowed here.")},
			{verb: "STOR", path: "/report.PDF", want: allow()},
			{verb: "RNTO", path: "/x.sh", other: []string{"/x.txt"}, want: deny(553, "File type .sh is not allowed here.")},
			{verb: "APPE", path: "/noext", want: deny(553, "File names need an extension here.")},
		}},
		{dir: "max-upload-size", subs: 3, steps: []step{
			{verb: "STOR", path: "/a", want: policy.Decision{Action: policy.Allow, HasMax: true, MaxBytes: 10 << 20}},
		}},
		{dir: "max-upload-size", config: "max_bytes=1000", subs: 3, steps: []step{
			{verb: "APPE", path: "/a", want: policy.Decision{Action: policy.Allow, HasMax: true, MaxBytes: 1000}},
		}},
		{dir: "business-hours", subs: 11, steps: []step{
			{verb: "STOR", path: "/a", now: weekday, want: allow()},
			{verb: "STOR", path: "/a", now: night, want: deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")},
			{verb: "DELE", path: "/a", now: sunday, want: deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")},
			{verb: "RETR", path: "/a", now: sunday, want: allow()},
		}},
		{dir: "read-only-paths", subs: 13, steps: []step{
			{verb: "STOR", path: "/archive/x", want: deny(550, "/archive is read-only.")},
			{verb: "RNTO", path: "/tmp/x", other: []string{"/published/x"}, want: deny(550, "/published is read-only.")},
			{verb: "DELE", path: "/archived", want: allow()},
			{verb: "RETR", path: "/archive/x", want: allow()},
		}},
		{dir: "quarantine-rewrite", subs: 3, steps: []step{
			{verb: "STOR", path: "/incoming/a/b.bin", want: policy.Decision{Action: policy.Rewrite, Path: "/quarantine/a/b.bin"}},
			{verb: "STOR", path: "/other/b.bin", want: allow()},
		}},
	}
	for _, c := range cases {
		t.Run(c.dir+c.config, func(t *testing.T) {
			t.Parallel()
			wasm := builder.Build(t, c.dir)
			ctx := context.Background()
			r, err := policy.NewRuntime(ctx, policy.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close(ctx)
			m, err := r.Compile(ctx, wasm, []byte(c.config))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Subscriptions) != c.subs {
				t.Fatalf("subscriptions %v, want %d verbs", m.Subscriptions, c.subs)
			}
			r.Install("t", m, policy.Settings{Config: []byte(c.config)})
			for _, s := range c.steps {
				now := s.now
				if now.IsZero() {
					now = weekday
				}
				req := &abi.Request{Verb: s.verb, Path: s.path, OtherPaths: s.other, Tenant: "t", User: "alice", NowMillis: uint64(now.UnixMilli())}
				d := r.Evaluate(ctx, "t", req)
				if d.Err != nil {
					t.Fatalf("%s %s: policy error %v", s.verb, s.path, d.Err)
				}
				got := d
				got.Called, got.Annotations = false, nil
				if got.Action != s.want.Action || got.Code != s.want.Code || got.Message != s.want.Message ||
					got.Path != s.want.Path || got.HasMax != s.want.HasMax || got.MaxBytes != s.want.MaxBytes {
					t.Errorf("%s %s at %v: got %+v, want %+v", s.verb, s.path, now, got, s.want)
				}
			}
			if f := r.Figures("t"); f.Errors != 0 {
				t.Fatalf("figures %+v", f)
			}
		})
	}
}

// TestBadConfigRefused: a config the policy's init rejects fails the upload.
func TestBadConfigRefused(t *testing.T) {
	t.Parallel()
	wasm := builder.Build(t, "max-upload-size")
	ctx := context.Background()
	r, err := policy.NewRuntime(ctx, policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	if _, err := r.Compile(ctx, wasm, []byte("max_bytes=lots")); err == nil {
		t.Fatal("a bad config was accepted")
	}
}
