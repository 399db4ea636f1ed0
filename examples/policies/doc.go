// Package policies holds the example WebAssembly policies, one Go program
// per directory (built for wasip1 only), and the test that builds each and
// runs it in the real policy runtime. See README.md.
package policies
