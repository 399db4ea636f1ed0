package policy

import (
	"fmt"
	"slices"
	"strings"
)

// ModuleInfo describes a compiled module: its JSON is what `ftpgate
// policy inspect --json` prints.
type ModuleInfo struct {
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
	ABI    int    `json:"abi"`
	// Subscriptions are the verbs the module wants; ["*"] for every verb.
	Subscriptions []string `json:"subscriptions"`
	HasInit       bool     `json:"ftpp_init"`
	Imports       []string `json:"imports"`
	Exports       []string `json:"exports"`
}

// Info describes m.
func (m *Module) Info() ModuleInfo {
	subs := m.Subscriptions
	if subs == nil {
		subs = []string{"*"}
	}
	return ModuleInfo{SHA256: m.Hash, Size: m.Size, ABI: m.ABI, Subscriptions: subs, HasInit: m.HasInit, Imports: m.Imports, Exports: m.Exports}
}

// Text renders i as `ftpgate policy inspect` prints it, one field a
// line, file naming the module's source.
func (i ModuleInfo) Text(file string) string {
	subs := strings.Join(i.Subscriptions, ",")
	if slices.Equal(i.Subscriptions, []string{"*"}) { // verbs have 3 or 4 letters: "*" is only Info's nil
		subs = "* (every verb)"
	}
	return fmt.Sprintf("file:          %s\nsha256:        %s\nsize:          %d bytes\nabi:           v%d\nsubscriptions: %s\nftpp_init:     %v\nimports:       %s\nexports:       %s\n",
		file, i.SHA256, i.Size, i.ABI, subs, i.HasInit, strings.Join(i.Imports, " "), strings.Join(i.Exports, " "))
}
