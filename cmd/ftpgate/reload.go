package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// reloadCmd runs `ftpgate reload`: it asks a running `serve --config`,
// through its admin API, to re-read its configuration, as SIGHUP does, and
// reports whether the new configuration was taken.
func reloadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ftpgate reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin", "", "`URL` of the server's admin API, e.g. http://127.0.0.1:2180 for --admin-listen 127.0.0.1:2180")
	tokenFile := fs.String("admin-token-file", "", "`file` holding the operator token (else $FTPGATE_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ftpgate reload: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *admin == "" {
		fmt.Fprintln(stderr, "ftpgate reload: --admin URL is needed (the server's --admin-listen)")
		return 2
	}
	tok := os.Getenv("FTPGATE_ADMIN_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "ftpgate reload: --admin-token-file: %v\n", err)
			return 2
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		fmt.Fprintln(stderr, "ftpgate reload: the operator token is needed (--admin-token-file or $FTPGATE_ADMIN_TOKEN)")
		return 2
	}
	if err := postReload(ctx, strings.TrimSuffix(*admin, "/")+"/v1/reload", tok); err != nil {
		fmt.Fprintf(stderr, "ftpgate reload: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "ftpgate: configuration reloaded")
	return 0
}

// postReload sends the reload request and turns any answer but 200 into
// an error carrying the server's reason.
func postReload(ctx context.Context, url, token string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		if body.Error == "" {
			body.Error = resp.Status
		}
		return errors.New(body.Error)
	}
	return nil
}
