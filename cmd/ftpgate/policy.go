package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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

func policyCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ftpgate policy check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cr policy.CheckRequest
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
	tenant := fs.String("tenant", "default", "tenant `id`")
	configFile := fs.String("config", "", "`file` with the tenant's policy config for ftpp_init")
	onError := fs.String("on-error", "deny", "decision when the module fails: deny or allow")
	timeout := fs.Duration("timeout", 50*time.Millisecond, "per-call deadline")
	asJSON := fs.Bool("json", false, "print the decision as JSON")
	file, err := splitFileArg(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && cr.Verb == "" {
		err = errors.New("--verb is required")
	}
	oe, oeErr := policy.ParseOnError(*onError)
	if err == nil {
		err = oeErr
	}
	if cr.Login == "" {
		cr.Login = cr.User
	}
	if cr.Arg == "" && cr.Path != "" {
		cr.Arg = path.Base(cr.Path)
	}
	var req abi.Request
	if err == nil {
		req, err = cr.Request(*tenant)
		req.Session = 1
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
	rt, m, err := policy.OpenFile(ctx, file, config, *timeout)
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
		printJSON(stdout, out)
	} else {
		fmt.Fprintln(stdout, d.Describe(m, req.Verb))
		if callErr != nil {
			fmt.Fprintf(stdout, "policy error: %v\n", callErr)
		}
	}
	if callErr != nil {
		return 1
	}
	return 0
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
	rt, m, err := policy.OpenFile(ctx, file, nil, 50*time.Millisecond)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate policy inspect: %s: %v\n", file, err)
		return 1
	}
	defer rt.Close(ctx)
	info := m.Info()
	if *asJSON {
		printJSON(stdout, info)
		return 0
	}
	fmt.Fprint(stdout, info.Text(file))
	return 0
}

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
