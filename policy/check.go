package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/policy/abi"
)

// CheckRequest is a sample command for a dry run (Runtime.DryRun): the
// JSON body of the admin API's POST .../policy/check, and what the flags
// of `ftpgate policy check` fill, so that both take one grammar.
type CheckRequest struct {
	Verb       string   `json:"verb"`
	Path       string   `json:"path"`
	OtherPaths []string `json:"other_paths"`
	Arg        string   `json:"arg"`
	User       string   `json:"user"`
	Remote     string   `json:"remote"`
	Now        string   `json:"now"` // RFC 3339; default the server's clock

	// The fields of ABI 1.1, so a dry run can ask what a live command
	// would carry: the login as typed, the HOST/SNI name, the user's
	// home and the paths inside the tenant (all of a command's or none).
	Login            string   `json:"login"`
	Host             string   `json:"host"`
	Home             string   `json:"home"`
	TenantPath       string   `json:"tenant_path"`
	OtherTenantPaths []string `json:"other_tenant_paths"`
}

// Request checks c and returns the request a logged-in session of tenant
// would send for it: the verb upper case, at most 8 letters; the paths
// cleaned as a rewrite target is (CleanRewrite), the tenant paths given
// for all of the command's paths or for none. Errors name the JSON field.
func (c CheckRequest) Request(tenant string) (abi.Request, error) {
	req := abi.Request{Verb: strings.ToUpper(c.Verb), Arg: c.Arg, OtherPaths: c.OtherPaths, User: c.User, Tenant: tenant,
		Remote: c.Remote, Flags: abi.FlagLoggedIn, Login: c.Login, Host: c.Host}
	if req.Verb == "" || len(req.Verb) > 8 {
		return req, errors.New("verb: want a command name such as STOR")
	}
	if none, all := c.TenantPath == "" && len(c.OtherTenantPaths) == 0,
		c.TenantPath != "" && len(c.OtherTenantPaths) == len(c.OtherPaths); !none && !all {
		return req, errors.New("tenant_path: give the tenant paths of all of the command's paths (other_tenant_paths as many as other_paths) or none")
	}
	var err error
	if req.Path, err = cleanOptional("path", c.Path); err != nil {
		return req, err
	}
	if req.Home, err = cleanOptional("home", c.Home); err != nil {
		return req, err
	}
	if req.TenantPath, err = cleanOptional("tenant_path", c.TenantPath); err != nil {
		return req, err
	}
	if req.OtherTenantPaths, err = cleanPaths("other_tenant_paths", c.OtherTenantPaths); err != nil {
		return req, err
	}
	if c.Now != "" {
		t, err := time.Parse(time.RFC3339, c.Now)
		if err != nil {
			return req, errors.New("now: want RFC 3339")
		}
		req.NowMillis = uint64(t.UnixMilli())
	}
	return req, nil
}

// cleanOptional cleans p as a rewrite target would be, unless it is empty.
func cleanOptional(field, p string) (string, error) {
	if p == "" {
		return "", nil
	}
	c, err := cleanPaths(field, []string{p})
	if err != nil {
		return "", err
	}
	return c[0], nil
}

// cleanPaths cleans each of ps as a rewrite target would be, naming the
// field in the error.
func cleanPaths(field string, ps []string) ([]string, error) {
	out := make([]string, len(ps))
	for i, p := range ps {
		c, err := CleanRewrite(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", field, err)
		}
		out[i] = c
	}
	return out, nil
}

// CheckResult is a dry run's answer as JSON, the same from the admin
// API's POST .../policy/check and `ftpgate policy check --json`: the
// decision, whether the module subscribes to the verb (else it is not
// called), and the call's error.
type CheckResult struct {
	Decision
	Subscribed bool   `json:"subscribed"`
	Error      string `json:"error,omitempty"`
}

// NewCheckResult is the CheckResult of DryRun's d and err for verb on m.
func NewCheckResult(m *Module, verb string, d Decision, err error) CheckResult {
	out := CheckResult{Decision: d, Subscribed: m.Subscribed(verb)}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}
