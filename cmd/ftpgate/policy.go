package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
	var cf policy.CheckFlags
	cf.Register(fs)
	file, err := splitFileArg(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var req abi.Request
	var oe policy.OnError
	if err == nil {
		req, oe, err = cf.Request()
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate policy check: %v\n", err)
		return 2
	}
	var config []byte
	if cf.ConfigFile != "" {
		if config, err = os.ReadFile(cf.ConfigFile); err != nil {
			fmt.Fprintf(stderr, "ftpgate policy check: %v\n", err)
			return 1
		}
	}
	rt, m, err := policy.OpenFile(ctx, file, config, cf.Timeout)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate policy check: %s: %v\n", file, err)
		return 1
	}
	defer rt.Close(ctx)
	d, callErr := rt.DryRun(ctx, m, policy.Settings{OnError: oe, Config: config}, &req)
	if cf.JSON {
		printJSON(stdout, policy.NewCheckResult(m, req.Verb, d, callErr))
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
