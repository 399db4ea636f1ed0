// Package policy runs tenants' WebAssembly command policies: modules that
// see each FTP command after tenant resolution and before its handler, and
// allow it, deny it with their own reply, rewrite its path inside the
// tenant, or cap an upload's size. The wire format is ABI v1, specified in
// ABI.md and implemented by package abi; the runtime is wazero.
//
// A Runtime compiles and validates modules (Compile), keeps one installed
// module per tenant (Install, Remove), and evaluates commands against it
// (Evaluate) on a bounded pool of instances per tenant and module version,
// under a per-call deadline. Any failure of a module (trap, timeout, memory
// exhaustion, a malformed answer) discards the instance and yields the
// tenant's OnError decision; a circuit breaker stops calling a module that
// keeps failing. Hooks adapts a Runtime to engine.Server's CommandHooks,
// TransferHooks and AdmissionHooks; Store keeps accepted modules on disk;
// AdminHandler is the HTTP API that uploads them, as routes for an admin
// server that checks the tokens.
package policy
