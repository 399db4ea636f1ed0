module github.com/ftpgate/ftpgate

go 1.26

require (
	github.com/jlaffaye/ftp v0.2.4
	github.com/pires/go-proxyproto v0.15.0
	github.com/spf13/afero v1.15.0
)

require golang.org/x/text v0.37.0 // indirect
