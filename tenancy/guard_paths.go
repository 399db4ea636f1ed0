package tenancy

import (
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/ftpgate/ftpgate/engine"
)

// Default caps on what a user creates (MKD, SITE MKDIR, STOR, APPE, STOU,
// COMB's target, RNTO, SITE SYMLINK), counted on the tenant-absolute path
// (the home joined with the path inside it): elements and bytes. They keep
// every tree a tenant can build cheap to walk and to remove; a tenant file
// may change them ([storage] max_path_depth, max_path_length) within
// maxPathDepthLimit and maxPathLengthLimit.
const (
	DefaultMaxPathDepth  = 64
	DefaultMaxPathLength = 1024
	maxPathDepthLimit    = 256
	maxPathLengthLimit   = 4000 // below Linux's PATH_MAX with the storage directory in front
)

// resolve returns the path an operation on name reaches inside the
// user's root (rootFs.resolve; a backend without links returns name
// clean). follow says whether a link in name's last element is followed
// (opening, stat, chmod) or acted on itself (delete, rename, link name).
// When resolution fails somewhere the user has no right at all, the
// refusal is the rights one, so that it tells nothing of what lies there.
func (g *guardFs) resolve(name string, follow bool) (string, error) {
	r, ok := g.inner.(pathResolver)
	if !ok {
		return cleanAbs(name), nil
	}
	p, err := r.resolve(cleanAbs(name), follow)
	if err != nil {
		if cerr := g.checkAny(p); cerr != nil {
			return "", cerr
		}
		return "", err
	}
	return p, nil
}

// checkCreate refuses a new name p (resolved) whose tenant-absolute path
// would pass the tenant's depth or length cap: 553, RFC 959's "file name
// not allowed".
func (g *guardFs) checkCreate(p string) error {
	full := path.Join(g.home, p)
	maxDepth, maxLen := g.maxDepth, g.maxLength
	if maxDepth <= 0 {
		maxDepth = DefaultMaxPathDepth
	}
	if maxLen <= 0 {
		maxLen = DefaultMaxPathLength
	}
	if len(full) > maxLen {
		return &engine.ReplyError{Code: 553, Message: fmt.Sprintf("%s: path too long: at most %d bytes from the tenant's root are allowed.", p, maxLen)}
	}
	if depth := strings.Count(full, "/"); full != "/" && depth > maxDepth {
		return &engine.ReplyError{Code: 553, Message: fmt.Sprintf("%s: path too deep: at most %d levels from the tenant's root are allowed.", p, maxDepth)}
	}
	return nil
}

// checkMkdirAll checks the mkdir right and the caps at p and at each of
// its parents that does not exist yet, since MkdirAll makes them all.
func (g *guardFs) checkMkdirAll(p string) error {
	if err := g.check(p, PermMkdir); err != nil {
		return err
	}
	if err := g.checkCreate(p); err != nil {
		return err
	}
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if _, err := g.lstat(d); err == nil || !os.IsNotExist(err) {
			break
		}
		if err := g.check(d, PermMkdir); err != nil {
			return err
		}
	}
	return nil
}

// checkLinkTarget refuses a link to where the user has no right at all:
// rights are checked on resolved paths anyway, so such a link would lead
// nowhere the user could go; refusing it says so at once.
func (g *guardFs) checkLinkTarget(target string) error {
	p, err := g.resolve(target, true)
	if err != nil {
		return err
	}
	if permissionsFor(g.rules, p) == 0 {
		return &engine.ReplyError{Code: 550, Message: cleanAbs(target) + ": permission denied: a link may only lead where you have rights."}
	}
	return nil
}
