package tenancy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/spf13/afero"
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
	p, _, err := g.resolveEnd(name, follow)
	return p, err
}

// resolveEnd is resolve, also returning what resolution saw at the
// resolved path's last element (pathEnd; the zero one, unknown, for a
// backend without links).
func (g *guardFs) resolveEnd(name string, follow bool) (string, pathEnd, error) {
	r, ok := g.inner.(pathResolver)
	if !ok {
		return cleanAbs(name), pathEnd{}, nil
	}
	p, end, err := r.resolveEnd(cleanAbs(name), follow)
	if err != nil {
		if cerr := g.checkAny(p); cerr != nil {
			return "", pathEnd{}, cerr
		}
		return "", pathEnd{}, err
	}
	return p, end, nil
}

// checkCreate refuses a new name p (resolved) whose tenant-absolute path
// would pass the tenant's depth or length cap: 553, RFC 959's "file name
// not allowed".
func (g *guardFs) checkCreate(p string) error {
	full := path.Join(g.home, p)
	maxDepth, maxLen := g.caps()
	if len(full) > maxLen {
		return &engine.ReplyError{Code: 553, Message: fmt.Sprintf("%s: path too long: at most %d bytes from the tenant's root are allowed.", p, maxLen)}
	}
	if pathDepth(full) > maxDepth {
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

// maxMoveScan bounds the entries checkMove reads below a directory that a
// rename moves deeper: a move needing more is refused, as moving it in
// parts is always possible. Entries are read without a stat each (the
// directory's own types, for the os backend), so the bound costs tens of
// milliseconds at most.
const maxMoveScan = 100_000

// caps returns the tenant's depth and length caps.
func (g *guardFs) caps() (depth, length int) {
	depth, length = g.maxDepth, g.maxLength
	if depth <= 0 {
		depth = DefaultMaxPathDepth
	}
	if length <= 0 {
		length = DefaultMaxPathLength
	}
	return depth, length
}

// pathDepth is the number of elements of a clean absolute path.
func pathDepth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// checkMove applies the caps to a rename: to the new name, and, when a
// directory moves deeper or to a longer name, to everything below it,
// which would otherwise let repeated moves build a tree of any depth.
func (g *guardFs) checkMove(oldname, newname string) error {
	if err := g.checkCreate(newname); err != nil {
		return err
	}
	fi, err := g.lstat(oldname)
	if err != nil || !fi.IsDir() {
		return nil // the rename itself reports a missing source
	}
	if pathDepth(newname) <= pathDepth(oldname) && len(newname) <= len(oldname) {
		return nil
	}
	maxDepth, maxLen := g.caps()
	full := path.Join(g.home, newname)
	fits, err := g.subtreeFits(oldname, maxDepth-pathDepth(full), maxLen-len(full))
	if err != nil {
		return err
	}
	if !fits {
		return &engine.ReplyError{Code: 553, Message: fmt.Sprintf("%s: moving the directory there would put paths below it past the tenant's caps (%d levels, %d bytes).", newname, maxDepth, maxLen)}
	}
	return nil
}

// subtreeFits reports whether every path below the directory dir, taken
// relative to it, has at most depth elements and length bytes; it stops
// at the first that does not, and fails with 553 after maxMoveScan
// entries.
func (g *guardFs) subtreeFits(dir string, depth, length int) (bool, error) {
	type pending struct {
		rel   string
		depth int
	}
	stack := []pending{{"", 0}}
	scanned := 0
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		f, err := g.inner.Open(dir + cur.rel)
		if err != nil {
			return false, err
		}
		var subdirs []string
		err = eachEntry(f, func(name string, isDir bool) error {
			if scanned++; scanned > maxMoveScan {
				return &engine.ReplyError{Code: 553, Message: fmt.Sprintf("%s: too large to move deeper in one go (more than %d entries to check): move it in parts.", dir, maxMoveScan)}
			}
			rel := cur.rel + "/" + name
			if cur.depth+1 > depth || len(rel) > length {
				return errDoesNotFit
			}
			if isDir {
				subdirs = append(subdirs, rel)
			}
			return nil
		})
		_ = f.Close()
		if err == errDoesNotFit {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, s := range subdirs {
			stack = append(stack, pending{s, cur.depth + 1})
		}
	}
	return true, nil
}

// errDoesNotFit ends subtreeFits' walk early.
var errDoesNotFit = errors.New("does not fit")

// eachEntry calls fn for each entry of the open directory f, in batches;
// an *os.File is read with ReadDir, which needs no stat per entry.
func eachEntry(f afero.File, fn func(name string, isDir bool) error) error {
	for {
		var names []string
		var dirs []bool
		if osf, ok := f.(*os.File); ok {
			ents, err := osf.ReadDir(256)
			for _, e := range ents {
				names = append(names, e.Name())
				dirs = append(dirs, e.IsDir())
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
		} else {
			fis, err := f.Readdir(256)
			for _, fi := range fis {
				names = append(names, fi.Name())
				dirs = append(dirs, fi.IsDir())
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
		}
		if len(names) == 0 {
			return nil
		}
		for i, n := range names {
			if err := fn(n, dirs[i]); err != nil {
				return err
			}
		}
	}
}
