package tenancy

import (
	"path"
	"strings"
)

// Perm is a set of rights a user has below a path prefix.
type Perm uint16

// The rights, named as in tenant files.
const (
	PermList      Perm = 1 << iota // list directories and stat files
	PermDownload                   // read files
	PermUpload                     // create new files
	PermOverwrite                  // replace or truncate existing files
	PermAppend                     // append to existing files
	PermDelete                     // remove files
	PermRename                     // rename files and directories
	PermMkdir                      // create directories
	PermRmdir                      // remove directories
	PermChmod                      // change modes and times
	PermSymlink                    // create symbolic links
	PermChown                      // change owners (SITE CHOWN)

	// PermAll is what "all" grants, and what a user without permission
	// rules has: every right except symlink and chown. Those two must be
	// named: a link lets its maker change what a checked path leads to
	// between the check and the use (see resolve), and an owner change
	// hands files to other host accounts.
	PermAll = PermList | PermDownload | PermUpload | PermOverwrite | PermAppend |
		PermDelete | PermRename | PermMkdir | PermRmdir | PermChmod
	// permWrite is every right that changes the storage.
	permWrite = PermUpload | PermOverwrite | PermAppend | PermDelete | PermRename |
		PermMkdir | PermRmdir | PermChmod | PermSymlink | PermChown
)

// permNames maps tenant-file names to rights, in display order.
var permNames = []struct {
	name string
	perm Perm
}{
	{"list", PermList}, {"download", PermDownload}, {"upload", PermUpload},
	{"overwrite", PermOverwrite}, {"append", PermAppend}, {"delete", PermDelete},
	{"rename", PermRename}, {"mkdir", PermMkdir}, {"rmdir", PermRmdir},
	{"chmod", PermChmod}, {"symlink", PermSymlink}, {"chown", PermChown},
}

// parsePerm returns the right called name ("all" is PermAll: every right
// but symlink and chown).
func parsePerm(name string) (Perm, bool) {
	if name == "all" {
		return PermAll, true
	}
	for _, p := range permNames {
		if p.name == name {
			return p.perm, true
		}
	}
	return 0, false
}

// permNameList is the list of valid names, for error messages.
func permNameList() string {
	names := make([]string, 0, len(permNames)+1)
	for _, p := range permNames {
		names = append(names, p.name)
	}
	return strings.Join(append(names, "all"), ", ")
}

// String returns the rights' names joined by commas.
func (p Perm) String() string {
	var names []string
	for _, n := range permNames {
		if p&n.perm != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// permissionsFor returns the rights at name (a clean absolute path): those
// of the longest prefix containing it, or every right without rules.
func permissionsFor(rules []PermissionConfig, name string) Perm {
	if len(rules) == 0 {
		return PermAll
	}
	best, bestLen := Perm(0), -1
	for _, r := range rules {
		if hasPathPrefix(name, r.Prefix) && len(r.Prefix) > bestLen {
			best, bestLen = r.Allow, len(r.Prefix)
		}
	}
	return best
}

// hasPathPrefix reports whether name is prefix or lies below it, comparing
// whole path elements ("/pub" contains "/pub/x" but not "/public").
func hasPathPrefix(name, prefix string) bool {
	if prefix == "/" || name == prefix {
		return true
	}
	return strings.HasPrefix(name, prefix) && len(name) > len(prefix) && name[len(prefix)] == '/'
}

// cleanAbs returns p as a clean absolute slash path.
func cleanAbs(p string) string {
	return path.Clean("/" + p)
}
