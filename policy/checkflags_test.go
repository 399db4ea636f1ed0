package policy

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// TestCheckFlags: the flags fill the request a dry run sends (--login
// defaults to --user, --arg to --path's last element, paths repeat), and
// a missing --verb or a bad --on-error is refused naming the flag.
func TestCheckFlags(t *testing.T) {
	parse := func(args ...string) *CheckFlags {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cf CheckFlags
		cf.Register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return &cf
	}
	req, oe, err := parse("--verb", "rnto", "--path", "/in/b.txt", "--other-path", "/in/a.txt", "--user", "alice",
		"--tenant", "acme", "--on-error", "allow").Request()
	if err != nil || oe != OnErrorAllow {
		t.Fatalf("Request: %v, %v", oe, err)
	}
	if req.Verb != "RNTO" || req.Arg != "b.txt" || req.Login != "alice" || req.Tenant != "acme" || req.Session != 1 ||
		strings.Join(req.OtherPaths, ",") != "/in/a.txt" || req.Remote != "127.0.0.1:50000" {
		t.Errorf("request: %+v", req)
	}
	if _, _, err := parse("--path", "/a").Request(); err == nil || err.Error() != "--verb is required" {
		t.Errorf("no --verb: %v", err)
	}
	if _, _, err := parse("--verb", "STOR", "--on-error", "maybe").Request(); err == nil {
		t.Error("--on-error maybe: no error")
	}
}
