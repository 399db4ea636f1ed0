package policy

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
