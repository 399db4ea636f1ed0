package tenancy

import "strings"

// SplitLogin splits a USER argument of the form user@tenant at its last
// '@'. ok is false when there is no '@', or either side would be empty, in
// which case the whole login is a user name. Only '@' is a separator:
// "tenant\user" is not accepted, because a backslash must be escaped in
// URLs and shells, and two forms would make "a@b\c" ambiguous. The last
// '@' is the separator so that a user named by an e-mail address can still
// give a tenant ("ann@example.com@acme").
func SplitLogin(login string) (user, tenant string, ok bool) {
	i := strings.LastIndexByte(login, '@')
	if i <= 0 || i == len(login)-1 {
		return login, "", false
	}
	return login[:i], login[i+1:], true
}
