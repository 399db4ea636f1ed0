package tenancy

import (
	"github.com/ftpgate/ftpgate/engine"
)

// EngineSettings returns the engine settings the server file asks for.
// The PROXY protocol section is not among them: the program wires it.
func (c *ServerConfig) EngineSettings() *engine.Settings {
	st := &engine.Settings{
		ListenAddr:            c.Listen,
		ImplicitTLSListenAddr: c.ImplicitTLSListen,
		PublicHost:            c.PublicHost,
		IdleTimeout:           int(c.IdleTimeout.Seconds()),
		ConnectionTimeout:     max(int(c.ConnectionTimeout.Seconds()), 1),
		Banner:                "ftpgate",
	}
	if c.IdleTimeout == 0 {
		st.IdleTimeout = -1
	} else if st.IdleTimeout == 0 {
		st.IdleTimeout = 1
	}
	if c.PassivePortLow > 0 {
		st.PassiveTransferPortRange = &engine.PortRange{Start: c.PassivePortLow, End: c.PassivePortHigh}
	}
	if c.TLSRequired {
		st.TLSRequired = engine.MandatoryEncryption
	}
	return st
}
