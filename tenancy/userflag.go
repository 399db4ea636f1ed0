package tenancy

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
)

// UserFlag collects repeated NAME:PASSWORD flags (`ftpgate serve --user`)
// into the users map OneTenant takes, which checks the names. It holds
// what the operator typed: as many users as the command line has.
type UserFlag map[string]string

// String is empty: the passwords are not shown in a flag's default.
func (u UserFlag) String() string { return "" }

// Set adds one NAME:PASSWORD, neither part empty, each name once.
func (u UserFlag) Set(v string) error {
	name, pass, ok := strings.Cut(v, ":")
	if !ok || name == "" || pass == "" {
		return errors.New("want NAME:PASSWORD with neither part empty")
	}
	if _, dup := u[name]; dup {
		return fmt.Errorf("user %q given twice", name)
	}
	u[name] = pass
	return nil
}

// RandomPassword returns a password for a demo user: 20 characters of an
// alphabet without look-alikes, about 100 bits.
func RandomPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported systems
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
