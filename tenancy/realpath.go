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
// The walk holds a handle on each directory it passed, so ".." in a link
// target goes back to the directory it came from in one step.
func (r *rootFs) resolve(name string, follow bool) (string, error) {
	todo := elements(name)
	var done []string
	dirs := []*os.Root{r.root}
	defer func() {
		for _, d := range dirs[1:] {
			_ = d.Close()
		}
	}()
	partial := func() string {
		// Clean drops the empty and "." elements a link's text may
		// hold; a ".." still in todo only reaches here with an error.
		return path.Clean("/" + strings.Join(append(append([]string(nil), done...), todo...), "/"))
	}
	hops, steps := 0, 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return partial(), linkEscapes(name)
			}
			done = done[:len(done)-1]
			_ = dirs[len(dirs)-1].Close()
			dirs = dirs[:len(dirs)-1]
			continue
		}
		if steps++; steps > maxResolveSteps {
			return partial(), &engine.ReplyError{Code: 550, Message: fmt.Sprintf("%s: the path has too many elements once its links are followed (more than %d).", name, maxResolveSteps)}
		}
		cur := dirs[len(dirs)-1]
		fi, err := cur.Lstat(c)
		if errors.Is(err, fs.ErrNotExist) {
			done = append(done, c)
			for _, t := range todo {
				if t == ".." {
					return partial(), &os.PathError{Op: "resolve", Path: name, Err: fs.ErrNotExist}
				}
			}
			return partial(), nil
		}
		if err != nil {
			todo = append([]string{c}, todo...)
			return partial(), err
		}
		last := len(todo) == 0
		if fi.Mode()&os.ModeSymlink != 0 && (!last || follow) {
			if hops++; hops > maxLinkHops {
				return partial(), &engine.ReplyError{Code: 550, Message: name + ": too many levels of symbolic links."}
			}
			target, err := cur.Readlink(c)
			if err != nil {
				return partial(), err
			}
			if target == "" {
				return partial(), &os.PathError{Op: "resolve", Path: name, Err: fs.ErrNotExist}
			}
			if path.IsAbs(target) {
				return partial(), linkEscapes(name)
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		}
		done = append(done, c)
		if last {
			break
		}
		if !fi.IsDir() {
			return partial(), &os.PathError{Op: "resolve", Path: name, Err: syscall.ENOTDIR}
		}
		next, err := openDirNoFollow(cur, c)
		if err != nil {
			return partial(), err
		}
		dirs = append(dirs, next)
	}
	return partial(), nil
}

// linkEscapes refuses a link that leads outside the root it lies in.
func linkEscapes(name string) error {
	return &engine.ReplyError{Code: 550, Message: name + ": a symbolic link in this path leads outside your directory tree."}
}
