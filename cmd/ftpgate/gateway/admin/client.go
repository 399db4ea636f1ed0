package admin

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

// MinOperatorToken is the shortest operator token the admin plane takes.
const MinOperatorToken = 16

// OperatorToken returns the operator token: file's content without
// surrounding space when file is set, else $FTPGATE_ADMIN_TOKEN. Both the
// server and `ftpgate reload` read it so. A token shorter than
// MinOperatorToken is an error.
func OperatorToken(file string) (string, error) {
	tok := os.Getenv("FTPGATE_ADMIN_TOKEN")
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		tok = strings.TrimSpace(string(b))
	}
	if len(tok) < MinOperatorToken {
		return "", fmt.Errorf("the admin API needs an operator token of at least %d characters (a token file or $FTPGATE_ADMIN_TOKEN)", MinOperatorToken)
	}
	return tok, nil
}

// maxReply bounds the reply body a client reads.
const maxReply = 1 << 20

// Reload asks the admin API at baseURL (scheme, host and port) to
// re-read the server's configuration, with the operator's token, and
// returns the keys that need a restart. Any reply but 200 is an error
// carrying the server's reason (Error.Error).
func Reload(ctx context.Context, client *http.Client, baseURL, token string) (restartNeeded []string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+"/v1/reload", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e Error
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			return nil, errors.New(resp.Status)
		}
		return nil, errors.New(e.Error)
	}
	var r ReloadReply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("reply: %w", err)
	}
	return r.RestartNeeded, nil
}

// ReloadCommand runs `ftpgate reload` with its arguments: it asks a
// running server, through its admin API, to re-read its configuration, as
// SIGHUP does, and reports whether the new configuration was taken and
// which changes wait for a restart. It returns the exit status: 0 when
// reloaded, 1 when the server refused or could not be reached (within
// 30 s), 2 on bad usage.
func ReloadCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
	tok, err := OperatorToken(*tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "ftpgate reload: --admin-token-file: %v\n", err)
		return 2
	}
	keys, err := Reload(ctx, &http.Client{Timeout: 30 * time.Second}, *url, tok)
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
