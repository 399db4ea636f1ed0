package tenancy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/ftpgate/ftpgate/engine"
)

// Bounds of link resolution. maxLinkHops is the kernel's own limit on
// links in one path (Linux's 40); maxResolveSteps bounds the path
// elements one resolution looks at (each costs an lstat and, for a
// directory, an open), so a path built from long chains of links costs
// at most that many, whatever the links say.
const (
	maxLinkHops     = 40
	maxResolveSteps = 1024
)

// errPathChanged refuses an operation on a path in which a symbolic link
// appeared after the path was resolved and checked.
var errPathChanged = &engine.ReplyError{Code: 550, Message: "The path changed while in use (a symbolic link appeared in it); nothing was done."}

// pathResolver is implemented by a backend that has symbolic links
// (rootFs). A backend without (memory) needs no resolution.
type pathResolver interface {
	resolve(name string, follow bool) (string, error)
	resolveEnd(name string, follow bool) (string, pathEnd, error)
}

// pathEnd is what resolution learnt of the resolved path's last element
// from the lstat it made there anyway, so that the operation on that path
// need not ask again (issue 17: the same name was lstat'ed up to five
// times per RETR). It is the element's state at that lstat, which is a
// moment inside the operation: the rights are checked on the path, not on
// this information, and every later use that depends on the element still
// being what it was (an open, a rename) checks again itself (rootFs's
// openVerified, the upload's commit).
type pathEnd struct {
	// fi is the last element's lstat: never a link when resolving with
	// follow; nil when unknown (the root, a path that ends in "." or
	// ".." inside a link's target, or an error).
	fi os.FileInfo
	// absent says the lstat found nothing there (or nothing at an
	// element above it), so the path does not exist.
	absent bool
}

// resolve returns the path that name (a clean absolute path inside the
// root) really reaches: every symbolic link in its directory part, and in
// its last element when follow is set, replaced by what it points to,
// inside the root. The result contains no link, except a last element
// that is one when follow is false. From the first element that does not
// exist on, the rest is taken as written (nothing below it can be a link).
//
// A link with an absolute target, or one that climbs above the root, is
// refused (os.Root would refuse to follow it too); more than maxLinkHops
// links is a loop; more than maxResolveSteps elements is refused. On an
// error the path returned is as far as resolution got, for the caller's
// rights check, so that a refusal says no more than the user may know.
//
// The walk holds one directory handle at a time; ".." in a link target
// walks down again from the root, each element counted in the steps.
func (r *rootFs) resolve(name string, follow bool) (string, error) {
	p, _, err := r.resolveEnd(name, follow)
	return p, err
}

// resolveEnd is resolve, also returning what the walk saw at the resolved
// path's last element (pathEnd; the zero one with an error).
func (r *rootFs) resolveEnd(name string, follow bool) (string, pathEnd, error) {
	todo := elements(name)
	var done []string
	// cur is the directory of done's last element; only it is held, so
	// one resolution holds at most two descriptors whatever the depth.
	cur := r.root
	setCur := func(d *os.Root) {
		if cur != r.root {
			_ = cur.Close()
		}
		cur = d
	}
	defer setCur(r.root)
	partial := func() string {
		// Clean drops the empty and "." elements a link's text may
		// hold; a ".." still in todo only reaches here with an error.
		return path.Clean("/" + strings.Join(append(append([]string(nil), done...), todo...), "/"))
	}
	hops, steps := 0, 0
	var end pathEnd
	tooMany := func() error {
		return &engine.ReplyError{Code: 550, Message: fmt.Sprintf("%s: the path has too many elements once its links are followed (more than %d).", name, maxResolveSteps)}
	}
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return partial(), pathEnd{}, linkEscapes(name)
			}
			done = done[:len(done)-1]
			// Walk down again from the root (".." of a handle could
			// be anywhere once its directory moved); each step counts.
			setCur(r.root)
			for _, d := range done {
				if steps++; steps > maxResolveSteps {
					return partial(), pathEnd{}, tooMany()
				}
				next, err := r.openDirNoFollow(cur, d)
				if err != nil {
					return partial(), pathEnd{}, err
				}
				setCur(next)
			}
			continue
		}
		if steps++; steps > maxResolveSteps {
			return partial(), pathEnd{}, tooMany()
		}
		fi, err := r.lstatIn(cur, c)
		if errors.Is(err, fs.ErrNotExist) {
			done = append(done, c)
			for _, t := range todo {
				if t == ".." {
					return partial(), pathEnd{}, &os.PathError{Op: "resolve", Path: name, Err: fs.ErrNotExist}
				}
			}
			return partial(), pathEnd{absent: true}, nil
		}
		if err != nil {
			todo = append([]string{c}, todo...)
			return partial(), pathEnd{}, err
		}
		last := len(todo) == 0
		if fi.Mode()&os.ModeSymlink != 0 && (!last || follow) {
			if hops++; hops > maxLinkHops {
				return partial(), pathEnd{}, &engine.ReplyError{Code: 550, Message: name + ": too many levels of symbolic links."}
			}
			target, err := cur.Readlink(c)
			if err != nil {
				return partial(), pathEnd{}, err
			}
			if target == "" {
				return partial(), pathEnd{}, &os.PathError{Op: "resolve", Path: name, Err: fs.ErrNotExist}
			}
			if path.IsAbs(target) {
				return partial(), pathEnd{}, linkEscapes(name)
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		}
		done = append(done, c)
		if last {
			// c, in cur, is the resolved path's last element, and fi
			// its lstat: a link only when follow is false.
			end = pathEnd{fi: fi}
			break
		}
		if !fi.IsDir() {
			return partial(), pathEnd{}, &os.PathError{Op: "resolve", Path: name, Err: syscall.ENOTDIR}
		}
		next, err := r.openDirSeen(cur, c, fi)
		if err != nil {
			return partial(), pathEnd{}, err
		}
		setCur(next)
	}
	return partial(), end, nil
}

// linkEscapes refuses a link that leads outside the root it lies in.
func linkEscapes(name string) error {
	return &engine.ReplyError{Code: 550, Message: name + ": a symbolic link in this path leads outside your directory tree."}
}
