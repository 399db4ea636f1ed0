package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/policy/abi"
)

const policyUsage = `Usage:
  ftpgate policy check FILE.wasm --verb VERB [--path P] [flags]   run a module offline on one command
  ftpgate policy inspect FILE.wasm                                 print a module's ABI, subscriptions, imports and exports
`

// policyCmd runs `ftpgate policy ...`.
func policyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	switch args[0] {
	case "check":
		return policyCheck(ctx, args[1:], stdout, stderr)
	case "inspect":
		return policyInspect(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, policyUsage)
		return 0
	}
	fmt.Fprintf(stderr, "ftpgate policy: unknown command %q\n\n%s", args[0], policyUsage)
	return 2
}

// splitFileArg takes the one positional FILE argument from wherever it
// stands, so that both `check FILE --verb X` and `check --verb X FILE` work.
func splitFileArg(fs *flag.FlagSet, args []string) (string, error) {
	var file string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		if file != "" {
			return "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		file, args = fs.Arg(0), fs.Args()[1:]
	}
	if file == "" {
		return "", errors.New("missing FILE.wasm")
	}
	return file, nil
}

// loadModule reads and validates a module file with a quiet runtime.
func loadModule(ctx context.Context, file string, config []byte, timeout time.Duration) (*policy.Runtime, *policy.Module, error) {
	wasm, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	rt, err := policy.NewRuntime(ctx, policy.Config{CallTimeout: timeout, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, err
	}
	m, err := rt.Compile(ctx, wasm, config)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, err
	}
	return rt, m, nil
}

func policyCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ftpgate policy check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verb := fs.String("verb", "", "command `verb`, e.g. STOR (required)")
	p := fs.String("path", "", "the command's absolute `path`")
	var others multiFlag
	fs.Var(&others, "other-path", "another `path` of the command (RNTO: the source); repeatable")
	arg := fs.String("arg", "", "the command's raw `argument` (default: the path)")
	user := fs.String("user", "", "the resolved user `name`")
	login := fs.String("login", "", "the login `name` as typed, e.g. bob@acme (default: --user)")
	home := fs.String("home", "", "the user's home `directory` inside the tenant's storage")
	tenantPath := fs.String("tenant-path", "", "the primary path inside the tenant's storage (`path`)")
	var otherTenant multiFlag
	fs.Var(&otherTenant, "other-tenant-path", "an --other-path inside the tenant's storage (`path`), in the same order; repeatable")
	tenant := fs.String("tenant", "default", "tenant `id`")
	remote := fs.String("remote", "127.0.0.1:50000", "client `address`")
	now := fs.String("now", "", "request clock, RFC 3339 `time` (default: now)")
	configFile := fs.String("config", "", "`file` with the tenant's policy config for ftpp_init")
	onError := fs.String("on-error", "deny", "decision when the module fails: deny or allow")
	timeout := fs.Duration("timeout", 50*time.Millisecond, "per-call deadline")
	asJSON := fs.Bool("json", false, "print the decision as JSON")
	file, err := splitFileArg(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && *verb == "" {
		err = errors.New("--verb is required")
	}
	oe, oeErr := policy.ParseOnError(*onError)
	if err == nil {
		err = oeErr
	}
	req := abi.Request{Verb: strings.ToUpper(*verb), Arg: *arg, User: *user, Login: *login, Tenant: *tenant, Remote: *remote, Session: 1,
		OtherPaths: others, Flags: abi.FlagLoggedIn, Home: *home, TenantPath: *tenantPath, OtherTenantPaths: otherTenant}
	if req.Login == "" {
		req.Login = req.User
	}
	if err == nil && (req.TenantPath != "" || len(req.OtherTenantPaths) > 0) &&
		(req.TenantPath == "" || *p == "" || len(req.OtherTenantPaths) != len(req.OtherPaths)) {
		err = errors.New("--tenant-path and --other-tenant-path go with --path and --other-path, one for one")
	}
	if err == nil && *p != "" {
		if req.Path, err = policy.CleanRewrite(*p); err != nil {
			err = fmt.Errorf("--path: %w", err)
		}
		if req.Arg == "" {
			req.Arg = path.Base(req.Path)
		}
	}
	if err == nil && *now != "" {
		t, perr := time.Parse(time.RFC3339, *now)
		if perr != nil {
			err = fmt.Errorf("--now: %w", perr)
		}
		req.NowMillis = uint64(t.UnixMilli())
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate policy check: %v\n", err)
		return 2
	}
	var config []byte
	if *configFile != "" {
		if config, err = os.ReadFile(*configFile); err != nil {
			fmt.Fprintf(stderr, "ftpgate policy check: %v\n", err)
			return 1
		}
	}
	rt, m, err := loadModule(ctx, file, config, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate policy check: %s: %v\n", file, err)
		return 1
	}
	defer rt.Close(ctx)
	d, callErr := rt.DryRun(ctx, m, policy.Settings{OnError: oe, Config: config}, &req)
	if *asJSON {
		out := struct {
			policy.Decision
			Error string `json:"error,omitempty"`
		}{Decision: d}
		if callErr != nil {
			out.Error = callErr.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		fmt.Fprintln(stdout, describeDecision(d, m, req.Verb))
		if callErr != nil {
			fmt.Fprintf(stdout, "policy error: %v\n", callErr)
		}
	}
	if callErr != nil {
		return 1
	}
	return 0
}

// describeDecision renders a decision the way an operator reads it.
func describeDecision(d policy.Decision, m *policy.Module, verb string) string {
	var s string
	switch d.Action {
	case policy.Deny:
		s = fmt.Sprintf("deny %d %s", d.Code, d.Message)
	case policy.Rewrite:
		s = "rewrite " + d.Path
	default:
		s = "allow"
		if !d.Called && d.Err == nil && !m.Subscribed(verb) {
			s += " (not subscribed to " + verb + "; the module is not called)"
		}
	}
	if d.HasMax {
		s += fmt.Sprintf(" (uploads capped at %d bytes)", d.MaxBytes)
	}
	for _, a := range d.Annotations {
		s += " [" + a + "]"
	}
	return s
}

func policyInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ftpgate policy inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print as JSON")
	file, err := splitFileArg(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate policy inspect: %v\n", err)
		return 2
	}
	rt, m, err := loadModule(ctx, file, nil, 50*time.Millisecond)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate policy inspect: %s: %v\n", file, err)
		return 1
	}
	defer rt.Close(ctx)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(moduleInfo(m))
		return 0
	}
	subs := "* (every verb)"
	if m.Subscriptions != nil {
		subs = strings.Join(m.Subscriptions, ",")
	}
	fmt.Fprintf(stdout, "file:          %s\nsha256:        %s\nsize:          %d bytes\nabi:           v%d\nsubscriptions: %s\nftpp_init:     %v\nimports:       %s\nexports:       %s\n",
		file, m.Hash, m.Size, m.ABI, subs, m.HasInit, strings.Join(m.Imports, " "), strings.Join(m.Exports, " "))
	return 0
}

// moduleInfoJSON is a module's description in the JSON of `policy inspect`.
type moduleInfoJSON struct {
	SHA256        string   `json:"sha256"`
	Size          int      `json:"size"`
	ABI           int      `json:"abi"`
	Subscriptions []string `json:"subscriptions"`
	HasInit       bool     `json:"ftpp_init"`
	Imports       []string `json:"imports"`
	Exports       []string `json:"exports"`
}

// moduleInfo describes m for `policy inspect --json`.
func moduleInfo(m *policy.Module) moduleInfoJSON {
	subs := m.Subscriptions
	if subs == nil {
		subs = []string{"*"}
	}
	return moduleInfoJSON{SHA256: m.Hash, Size: m.Size, ABI: m.ABI, Subscriptions: subs, HasInit: m.HasInit, Imports: m.Imports, Exports: m.Exports}
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
