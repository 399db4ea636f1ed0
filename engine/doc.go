// Package engine is an FTP and FTPS server library whose storage is any
// afero.Fs.
//
// A program supplies a MainDriver, which hands out settings, TLS
// configuration and, on login, a ClientDriver (an afero.Fs holding the
// user's files). A Server accepts control connections, speaks the protocol
// of RFC 959 and its extensions (RFC 2228, 2389, 2428, 3659, 4217, 7151),
// resolves every path to a clean absolute path below "/", and moves file
// data between the ClientDriver and the client's data connections.
//
// Other concerns plug into four interception points on the Server:
// AdmissionHooks see each new connection before the banner, LoginHooks
// wrap each login attempt, CommandHooks see each command before its
// handler runs, TransferHooks wrap the copy of every transfer, and
// PassiveHooks may refuse each passive port a session is about to take
// and learn when it is given back. A
// SessionKey keeps a plugin's own value on each session, and
// SessionContext gives the context that ends with it. The engine knows
// nothing of tenants, limits or policies; the packages that implement them
// only use these hooks and the driver interfaces.
//
// # Driver wrappers
//
// A MainDriver, ClientDriver or file handle that wraps another may offer
// an Unwrap method returning the value it wraps: Unwrap() MainDriver for a
// MainDriver, Unwrap() afero.Fs or Unwrap() ClientDriver for a
// ClientDriver, Unwrap() afero.File or Unwrap() FileTransfer for a file
// handle. The engine then looks for each extension (the
// MainDriverExtension and ClientDriverExtension interfaces,
// FileTransferError) on the wrapper first and on each wrapped value in
// turn, at most 16 deep, as errors.As does for errors and
// http.ResponseController for ResponseWriters, so a wrapper forwards no
// extension it does not change. Offering Unwrap declares that the wrapped
// value's extensions may be used as they are: a wrapper that restricts
// what the wrapped value may do (read-only, quotas) must implement the
// extensions it restricts (SITE subcommands and symbolic links write), or
// not offer Unwrap.
//
// Three extensions are never looked for behind a wrapper, because each is
// another way into what a method of the wrapper does, and using the
// wrapped value's would bypass the wrapper: MainDriverExtensionTLSVerifier
// (a login beside AuthUser), ClientDriverExtensionFileTransfer (an open
// beside OpenFile) and ClientDriverExtensionHasher (a read beside Open).
// A wrapper that wants them implements them.
//
// A minimal server:
//
//	srv := &engine.Server{Driver: myDriver}
//	log.Fatal(srv.ListenAndServe())
package engine
