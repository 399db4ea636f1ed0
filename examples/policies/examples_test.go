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

// step is one command. tpath and tother are its tenant paths (none when
// tpath is empty); home defaults to "/" when tpath is set.
type step struct {
	verb, arg, path string
	other           []string
	tpath, home     string
	tother          []string
	now             time.Time
	want            policy.Decision
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
		{dir: "deny-delete", subs: 5, steps: []step{
			{verb: "DELE", path: "/a.txt", want: deny(550, "Deleting is disabled for this tenant.")},
			{verb: "RMD", path: "/d", want: deny(550, "Deleting is disabled for this tenant.")},
			{verb: "XRMD", path: "/d", want: deny(550, "Deleting is disabled for this tenant.")},
			// Side doors: SITE RMDIR removes a directory, COMB its parts.
			{verb: "SITE", arg: "RMDIR d", path: "/d", want: deny(550, "Deleting is disabled for this tenant.")},
			{verb: "SITE", arg: "rmdir d", path: "/d", want: deny(550, "Deleting is disabled for this tenant.")},
			{verb: "COMB", arg: "t a b", path: "/t", other: []string{"/a", "/b"}, want: deny(550, "Deleting is disabled for this tenant.")},
			{verb: "SITE", arg: "CHMOD 600 f", path: "/f", want: allow()},
			{verb: "STOR", path: "/a.txt", want: allow()},
		}},
		{dir: "extension-allowlist", subs: 6, steps: []step{
			{verb: "STOR", path: "/a.exe", want: deny(553, "File type .exe is not allowed here.")},
			{verb: "STOR", path: "/report.PDF", want: allow()},
			{verb: "RNTO", path: "/x.sh", other: []string{"/x.txt"}, want: deny(553, "File type .sh is not allowed here.")},
			{verb: "RNTO", path: "/x.txt", other: []string{"/x.sh"}, want: allow()},
			{verb: "APPE", path: "/noext", want: deny(553, "File names need an extension here.")},
			// Side doors: COMB's target, STOU's chosen name, a link's
			// name or target, a name that reaches another through a link.
			{verb: "COMB", arg: `"evil.exe" "ok.txt"`, path: "/evil.exe", other: []string{"/ok.txt"}, want: deny(553, "File type .exe is not allowed here.")},
			{verb: "COMB", arg: `"ok.txt" "a.txt"`, path: "/ok.txt", other: []string{"/a.txt"}, want: allow()},
			{verb: "STOU", arg: "a.txt", path: "/a.txt", want: deny(553, "STOU picks its own file name; use STOR with an allowed extension.")},
			{verb: "STOU", path: "/", want: deny(553, "STOU picks its own file name; use STOR with an allowed extension.")},
			{verb: "SITE", arg: "SYMLINK ok.txt evil.exe", path: "/ok.txt", other: []string{"/evil.exe"}, want: deny(553, "File type .exe is not allowed here.")},
			{verb: "SITE", arg: "SYMLINK evil.exe ok.txt", path: "/evil.exe", other: []string{"/ok.txt"}, want: deny(553, "File type .exe is not allowed here.")},
			{verb: "SITE", arg: "SYMLINK /pub mypub", path: "/pub", other: []string{"/mypub"}, want: allow()},
			{verb: "STOR", path: "/ok.txt", tpath: "/evil.exe", want: deny(553, "File type .exe is not allowed here.")},
			{verb: "SITE", arg: "CHMOD 600 a.exe", path: "/a.exe", want: allow()},
			{verb: "MKD", path: "/dir.d", want: allow()},
		}},
		{dir: "max-upload-size", subs: 3, steps: []step{
			{verb: "STOR", path: "/a", want: policy.Decision{Action: policy.Allow, HasMax: true, MaxBytes: 10 << 20}},
			{verb: "STOU", path: "/", want: policy.Decision{Action: policy.Allow, HasMax: true, MaxBytes: 10 << 20}},
		}},
		{dir: "max-upload-size", config: "max_bytes=1000", subs: 3, steps: []step{
			{verb: "APPE", path: "/a", want: policy.Decision{Action: policy.Allow, HasMax: true, MaxBytes: 1000}},
		}},
		{dir: "business-hours", subs: 14, steps: []step{
			{verb: "STOR", path: "/a", now: weekday, want: allow()},
			{verb: "STOR", path: "/a", now: night, want: deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")},
			{verb: "DELE", path: "/a", now: sunday, want: deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")},
			{verb: "RETR", path: "/a", now: sunday, want: allow()},
			// Side doors: COMB, MFMT, MDTM with a time, SITE changes.
			{verb: "COMB", arg: "t a", path: "/t", other: []string{"/a"}, now: night, want: deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")},
			{verb: "MFMT", arg: "20260101000000 a", path: "/a", now: night, want: deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")},
			{verb: "MDTM", arg: "20260101000000 a", path: "/a", now: night, want: deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")},
			{verb: "MDTM", arg: "a", path: "/a", now: night, want: allow()},
			{verb: "SITE", arg: "CHMOD 600 a", path: "/a", now: night, want: deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")},
			{verb: "SITE", arg: "SYMLINK a b", path: "/a", other: []string{"/b"}, now: night, want: deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")},
			{verb: "SITE", arg: "HELP", now: night, want: allow()},
			{verb: "XMKD", path: "/d", now: night, want: deny(450, "Changes are allowed Monday to Friday, 08:00-18:00 UTC.")},
		}},
		{dir: "read-only-paths", subs: 14, steps: []step{
			{verb: "STOR", path: "/archive/x", want: deny(550, "/archive is read-only.")},
			{verb: "RNTO", path: "/tmp/x", other: []string{"/published/x"}, want: deny(550, "/published is read-only.")},
			{verb: "DELE", path: "/archived", want: allow()},
			{verb: "RETR", path: "/archive/x", want: allow()},
			// Side doors: a link that reaches /archive, RNTO into it,
			// COMB's parts, SITE MKDIR/CHMOD, MFMT, links to or above it.
			{verb: "STOR", path: "/r/archive/record.txt", tpath: "/archive/record.txt", want: deny(550, "/archive is read-only.")},
			{verb: "DELE", path: "/r/archive/record.txt", tpath: "/archive/record.txt", want: deny(550, "/archive is read-only.")},
			{verb: "RNTO", path: "/archive/x", other: []string{"/tmp/x"}, want: deny(550, "/archive is read-only.")},
			{verb: "COMB", arg: "t /archive/a", path: "/t", other: []string{"/archive/a"}, want: deny(550, "/archive is read-only.")},
			{verb: "SITE", arg: "MKDIR /archive/new", path: "/archive/new", want: deny(550, "/archive is read-only.")},
			{verb: "SITE", arg: "CHMOD 777 /r", path: "/r", tpath: "/archive", want: deny(550, "/archive is read-only.")},
			{verb: "MFMT", arg: "20260101000000 /archive/x", path: "/archive/x", want: deny(550, "/archive is read-only.")},
			{verb: "SITE", arg: "SYMLINK / /r", path: "/", other: []string{"/r"}, want: deny(550, "Links to /archive or above it are not allowed.")},
			{verb: "SITE", arg: "SYMLINK /archive/x /y", path: "/archive/x", other: []string{"/y"}, want: deny(550, "/archive is read-only.")},
			{verb: "SITE", arg: "SYMLINK /pub /p", path: "/pub", other: []string{"/p"}, want: allow()},
			{verb: "APPE", path: "/notes.txt", want: allow()},
			// A user whose home is /alice: her /archive is not the
			// tenant's; the tenant's /archive is out of her reach.
			{verb: "STOR", path: "/archive/x", tpath: "/alice/archive/x", home: "/alice", want: allow()},
		}},
		{dir: "quarantine-rewrite", subs: 6, steps: []step{
			{verb: "STOR", path: "/incoming/a/b.bin", want: policy.Decision{Action: policy.Rewrite, Path: "/quarantine/a/b.bin"}},
			{verb: "STOR", path: "/other/b.bin", want: allow()},
			{verb: "STOR", path: "/incomingx/b.bin", want: allow()},
			// Side doors: a link into /incoming, RNTO and COMB into it,
			// APPE, STOU without a name in /incoming, links made there.
			{verb: "STOR", path: "/up/b.bin", tpath: "/incoming/b.bin", want: policy.Decision{Action: policy.Rewrite, Path: "/quarantine/b.bin"}},
			{verb: "RNTO", path: "/incoming/b.bin", other: []string{"/b.bin"}, want: policy.Decision{Action: policy.Rewrite, Path: "/quarantine/b.bin"}},
			{verb: "COMB", arg: "/incoming/t a", path: "/incoming/t", other: []string{"/a"}, want: policy.Decision{Action: policy.Rewrite, Path: "/quarantine/t"}},
			{verb: "APPE", path: "/incoming/t", want: policy.Decision{Action: policy.Rewrite, Path: "/quarantine/t"}},
			{verb: "STOU", path: "/incoming", want: policy.Decision{Action: policy.Rewrite, Path: "/quarantine"}},
			{verb: "SITE", arg: "SYMLINK /b.bin /incoming/b.bin", path: "/b.bin", other: []string{"/incoming/b.bin"}, want: deny(553, "Links cannot be made in /incoming.")},
			{verb: "SITE", arg: "CHMOD 600 /incoming/x", path: "/incoming/x", want: allow()},
			// A home below the tenant's root: the rewrite is a session path.
			{verb: "STOR", path: "/in/x", tpath: "/team/incoming/x", home: "/team", want: allow()},
			{verb: "STOR", path: "/incoming/x", tpath: "/team/incoming/x", home: "/team", want: allow()},
			{verb: "STOR", path: "/x", tpath: "/incoming/x", home: "/incoming", want: deny(553, "Files for /incoming are quarantined, and /quarantine is outside your home.")},
			{verb: "STOR", path: "/link/x", tpath: "/incoming/x", home: "/", want: policy.Decision{Action: policy.Rewrite, Path: "/quarantine/x"}},
		}},
	}
	for _, c := range cases {
		t.Run(c.dir+c.config, func(t *testing.T) {
			t.Parallel()
			wasm := builder.Build(t, c.dir)
			ctx := context.Background()
			r, err := policy.NewRuntime(ctx, loadedMachine(policy.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close(ctx)
			m, err := r.Compile(ctx, wasm, []byte(c.config))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Subscriptions) != c.subs {
				t.Errorf("subscriptions %v, want %d verbs", m.Subscriptions, c.subs)
			}
			r.Install("t", m, policy.Settings{Config: []byte(c.config)})
			for _, s := range c.steps {
				now := s.now
				if now.IsZero() {
					now = weekday
				}
				req := &abi.Request{Verb: s.verb, Arg: s.arg, Path: s.path, OtherPaths: s.other, Tenant: "t", User: "alice",
					Login: "alice", NowMillis: uint64(now.UnixMilli()), Flags: abi.FlagLoggedIn}
				if s.tpath != "" {
					req.TenantPath, req.Home = s.tpath, s.home
					if req.Home == "" {
						req.Home = "/"
					}
					req.OtherTenantPaths = s.tother
					if s.tother == nil {
						req.OtherTenantPaths = s.other // same as the session paths
					}
				}
				d := r.Evaluate(ctx, "t", req)
				if d.Err != nil {
					t.Fatalf("%s %s: policy error %v", s.verb, s.path, d.Err)
				}
				got := d
				got.Called, got.Annotations = false, nil
				if got.Action != s.want.Action || got.Code != s.want.Code || got.Message != s.want.Message ||
					got.Path != s.want.Path || got.HasMax != s.want.HasMax || got.MaxBytes != s.want.MaxBytes {
					t.Errorf("%s %q %s at %v: got %+v, want %+v", s.verb, s.arg, s.path, now, got, s.want)
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
	r, err := policy.NewRuntime(ctx, loadedMachine(policy.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	if _, err := r.Compile(ctx, wasm, []byte("max_bytes=lots")); err == nil {
		t.Fatal("a bad config was accepted")
	}
}

// loadedMachine widens the runtime's deadlines for tests: Go-built guests
// under -race on a loaded two-core runner took over the default 1 s to
// instantiate. The deadlines are upper bounds; no test here is about them.
func loadedMachine(c policy.Config) policy.Config {
	c.InitTimeout = 30 * time.Second
	c.CallTimeout = 10 * time.Second
	return c
}
