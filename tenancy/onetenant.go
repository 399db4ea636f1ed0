package tenancy

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
)

// OneTenant returns tenant id with its storage in dir (made absolute) on
// BackendOS, the os.Root jail every tenant has, and one user per entry of
// users (name to password) with home "/" and every right: the one tenant
// of `ftpgate serve` without a server file. Each password is hashed with
// argon2id and DefaultArgon2Params, so the cost is one hash per user, and
// the caller bounds the number of users. A user name is checked as a
// tenant file's is; file names the source in the tenant's errors.
func OneTenant(file, id, dir string, users map[string]string) (*TenantConfig, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	t := &TenantConfig{File: file, ID: id, Storage: StorageConfig{Backend: BackendOS, Dir: abs}}
	for _, name := range slices.Sorted(maps.Keys(users)) {
		if !validUserName(name) {
			return nil, fmt.Errorf("user %q: want 1 to 128 printable characters without spaces", name)
		}
		hash, err := HashPasswordArgon2id(users[name], DefaultArgon2Params())
		if err != nil {
			return nil, err
		}
		t.Users = append(t.Users, &UserConfig{Name: name, PasswordHash: hash, Home: "/"})
	}
	return t, nil
}
