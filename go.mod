module github.com/ftpgate/ftpgate

go 1.26

require (
	github.com/jlaffaye/ftp v0.2.4
	github.com/spf13/afero v1.15.0
	github.com/tetratelabs/wazero v1.12.0
)

require (
	golang.org/x/sys v0.44.0 // indirect
	golang.org/x/text v0.28.0 // indirect
)
