package flagkey

import (
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// Errors names flags where err names keys, one problem a line: every
// key a message names becomes its flag (keys, from Binder.Keys, read
// backwards). A key is a whole dotted word (keyWord), so a path such
// as /etc/tls.cert stays as it is.
func Errors(keys map[string]string, err error) error {
	if err == nil {
		return nil
	}
	byKey := map[string]string{}
	for fl, key := range keys {
		if !strings.HasPrefix(key, NoKey) {
			byKey[key] = "--" + fl
		}
	}
	toFlags := func(s string) string {
		return keyWord.ReplaceAllStringFunc(s, func(m string) string {
			at := 0 // the character before the key, if any
			if r, n := utf8.DecodeRuneInString(m); r < 'a' || r > 'z' {
				at = n
			}
			if fl, ok := byKey[m[at:]]; ok {
				return m[:at] + fl
			}
			return m
		})
	}
	var es conf.Errors
	if !errors.As(err, &es) {
		return errors.New(toFlags(err.Error()))
	}
	lines := make([]string, 0, len(es))
	for _, e := range es {
		lines = append(lines, toFlags(e.Key+": "+e.Msg))
	}
	return errors.New(strings.Join(lines, "\n"))
}

// keyWord matches a dotted key not inside a path or a longer name.
var keyWord = regexp.MustCompile(`(?:^|[^\w./\\-])[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+`)
