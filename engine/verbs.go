package engine

import "slices"

// Verbs returns every verb of the engine's command table, sorted, in a
// new slice: the fixed set a plugin may label by (any other verb a client
// sends is its own text, to be mapped to one value before it becomes a
// label). Optional commands (HASH, COMB) are in it whether or not
// Settings offer them.
func Verbs() []string { return slices.Clone(commandNames) }
