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
// AdmissionHooks see each new connection before the banner, CommandHooks
// see each command before its handler runs, TransferHooks wrap the copy
// of every transfer, and PassiveHooks may refuse each passive port a
// session is about to take and learn when it is given back. The engine knows nothing of tenants, limits or
// policies; the packages that implement them only use these hooks and the
// driver interfaces.
//
// A minimal server:
//
//	srv := &engine.Server{Driver: myDriver}
//	log.Fatal(srv.ListenAndServe())
package engine
