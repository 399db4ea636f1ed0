package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
)

// reloadCmd runs `ftpgate reload`: it asks a running server, through its
// admin API, to re-read its configuration, as SIGHUP does, and reports
// whether the new configuration was taken and which changes wait for a
// restart.
func reloadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ftpgate reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("admin", "", "`URL` of the server's admin API, e.g. http://127.0.0.1:2180 for --admin-listen 127.0.0.1:2180")
	tokenFile := fs.String("admin-token-file", "", "`file` holding the operator token (else $FTPGATE_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ftpgate reload: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *url == "" {
		fmt.Fprintln(stderr, "ftpgate reload: --admin URL is needed (the server's --admin-listen)")
		return 2
	}
	tok, err := admin.OperatorToken(*tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate reload: --admin-token-file: %v\n", err)
		return 2
	}
	keys, err := admin.Reload(ctx, &http.Client{Timeout: 30 * time.Second}, *url, tok)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate reload: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "ftpgate: configuration reloaded")
	if len(keys) > 0 {
		fmt.Fprintf(stdout, "ftpgate: these changes wait for a restart: %s\n", strings.Join(keys, ", "))
	}
	return 0
}
