package engine

import (
	"path"
	"strings"
)

// cleanPath returns p as a clean absolute path. Because the result is
// rooted before it is cleaned, no number of ".." elements can climb above
// "/".
func cleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return path.Clean(p)
}

// resolvePath resolves a client's path argument against the working
// directory cwd; an empty argument means cwd itself.
func resolvePath(cwd, arg string) string {
	switch {
	case arg == "":
		return cleanPath(cwd)
	case strings.HasPrefix(arg, "/"):
		return cleanPath(arg)
	default:
		return cleanPath(cwd + "/" + arg)
	}
}
