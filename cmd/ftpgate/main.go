// Command ftpgate runs the ftpgate FTP/FTPS gateway: `ftpgate serve` runs
// the server, from flags or a server file (--config); the other
// subcommands check a server file, hash a password, reload a running
// server and check or inspect a WebAssembly policy offline. `ftpgate
// help` lists them (usage below).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/policy"
)

const usage = `ftpgate: a multi-tenant FTP/FTPS gateway

Usage:
  ftpgate serve [flags]   run the server (ftpgate serve -h lists the flags)
  ftpgate check-config FILE
                          validate a server file and its tenant files
  ftpgate hash-password [--algo argon2id|bcrypt]
                          hash the password read from stdin for a tenant file
  ftpgate reload --admin URL [--admin-token-file FILE]
                          make a running server re-read its configuration
                          through the admin API (as SIGHUP does); prints
                          the changes that wait for a restart
  ftpgate policy check FILE.wasm --verb STOR --path /a.exe [--user alice]
                          run a WebAssembly policy offline on one command
  ftpgate policy inspect FILE.wasm
                          print a policy's ABI, subscriptions and imports
  ftpgate version         print the version
  ftpgate help            print this usage
`

func main() {
	// A re-exec of this binary that compiles one policy module under
	// rlimits (policy.Config.ChildCompile) must do nothing else.
	if policy.CompileChildMain() {
		return
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program with its surroundings passed in, so that tests
// can drive it in-process. It returns the exit status: 0 on success, 1 when
// the server fails, 2 on bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		signals := make(chan os.Signal, 2)
		signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(signals)
		return serve(ctx, args[1:], stdout, stderr, signals)
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "hash-password":
		return hashPassword(args[1:], os.Stdin, stdout, stderr)
	case "reload":
		return admin.ReloadCommand(ctx, args[1:], stdout, stderr)
	case "policy":
		return policyCmd(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "ftpgate", version())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ftpgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// version returns the module version the binary was built from, or
// "(devel)" for a build from a work tree, plus the VCS revision when known.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v + " " + info.GoVersion
}
