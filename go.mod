module github.com/ftpgate/ftpgate

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/jlaffaye/ftp v0.2.4
	github.com/pires/go-proxyproto v0.15.0
	github.com/spf13/afero v1.15.0
	github.com/tetratelabs/wazero v1.12.0
	golang.org/x/crypto v0.59.0
	golang.org/x/time v0.16.0
)

require (
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)
