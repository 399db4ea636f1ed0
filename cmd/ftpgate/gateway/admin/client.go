package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
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
