package policy

import (
	"errors"
	"flag"
	"path"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/policy/abi"
)

// CheckFlags is what `ftpgate policy check` is told besides the module
// file: the command, as CheckRequest's fields, and how to run it.
type CheckFlags struct {
	CheckRequest
	Tenant     string        // --tenant
	ConfigFile string        // --config: the tenant's policy config for ftpp_init
	Timeout    time.Duration // --timeout: the per-call deadline
	JSON       bool          // --json
	onError    string
}

// Register adds the flags to fs.
func (f *CheckFlags) Register(fs *flag.FlagSet) {
	cr := &f.CheckRequest
	fs.StringVar(&cr.Verb, "verb", "", "command `verb`, e.g. STOR (required)")
	fs.StringVar(&cr.Path, "path", "", "the command's absolute `path`")
	fs.Var((*multiFlag)(&cr.OtherPaths), "other-path", "another `path` of the command (RNTO: the source); repeatable")
	fs.StringVar(&cr.Arg, "arg", "", "the command's raw `argument` (default: the path's last element)")
	fs.StringVar(&cr.User, "user", "", "the resolved user `name`")
	fs.StringVar(&cr.Login, "login", "", "the login `name` as typed, e.g. bob@acme (default: --user)")
	fs.StringVar(&cr.Home, "home", "", "the user's home `directory` inside the tenant's storage")
	fs.StringVar(&cr.TenantPath, "tenant-path", "", "the primary path inside the tenant's storage (`path`)")
	fs.Var((*multiFlag)(&cr.OtherTenantPaths), "other-tenant-path", "an --other-path inside the tenant's storage (`path`), in the same order; repeatable")
	fs.StringVar(&cr.Remote, "remote", "127.0.0.1:50000", "client `address`")
	fs.StringVar(&cr.Now, "now", "", "request clock, RFC 3339 `time` (default: now)")
	fs.StringVar(&f.Tenant, "tenant", "default", "tenant `id`")
	fs.StringVar(&f.ConfigFile, "config", "", "`file` with the tenant's policy config for ftpp_init")
	fs.StringVar(&f.onError, "on-error", "deny", "decision when the module fails: deny or allow")
	fs.DurationVar(&f.Timeout, "timeout", 50*time.Millisecond, "per-call deadline")
	fs.BoolVar(&f.JSON, "json", false, "print the decision as JSON")
}

// Request returns the request of a logged-in session (session 1) that the
// flags describe, --login defaulting to --user and --arg to --path's last
// element, and --on-error's decision. --verb is required.
func (f *CheckFlags) Request() (abi.Request, OnError, error) {
	if f.Verb == "" {
		return abi.Request{}, OnErrorDeny, errors.New("--verb is required")
	}
	oe, err := ParseOnError(f.onError)
	if err != nil {
		return abi.Request{}, oe, err
	}
	cr := f.CheckRequest
	if cr.Login == "" {
		cr.Login = cr.User
	}
	if cr.Arg == "" && cr.Path != "" {
		cr.Arg = path.Base(cr.Path)
	}
	req, err := cr.Request(f.Tenant)
	req.Session = 1
	return req, oe, err
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
