package telemetry

// Snapshot is the gateway's figures at one moment, as /metrics serves
// them, summed over their labels: for the console's overview and charts,
// read in process rather than by scraping.
type Snapshot struct {
	// Version is ftpgate_build_info's version label.
	Version string
	// Generation is ftpgate_config_generation: 1 at start, one more per
	// reload taken.
	Generation int64
	// ConnectionsOpen and ConnectionsAccepted are ftpgate_connections_open
	// and ftpgate_connections_accepted_total.
	ConnectionsOpen, ConnectionsAccepted int64
	// BytesUp and BytesDown are ftpgate_transfer_bytes_total by direction
	// (upload, download), every tenant's.
	BytesUp, BytesDown int64
	// LoginsOK and LoginsFailed are ftpgate_logins_total by result.
	LoginsOK, LoginsFailed int64
	// Commands is ftpgate_commands_total; Refused the part of it whose
	// final reply was 4xx or 5xx.
	Commands, Refused int64
}

// Snapshot gathers the registry /metrics serves and sums the families
// Snapshot has. A nil m returns the zero Snapshot.
func (m *Metrics) Snapshot() Snapshot {
	var s Snapshot
	if m == nil {
		return s
	}
	s.Version = m.version
	fams, _ := m.reg.Gather() // a collector's error leaves its families out; the rest is still right
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			v := int64(mt.GetCounter().GetValue() + mt.GetGauge().GetValue())
			label := func(name string) string {
				for _, l := range mt.GetLabel() {
					if l.GetName() == name {
						return l.GetValue()
					}
				}
				return ""
			}
			switch f.GetName() {
			case "ftpgate_config_generation":
				s.Generation = v
			case "ftpgate_connections_open":
				s.ConnectionsOpen = v
			case "ftpgate_connections_accepted_total":
				s.ConnectionsAccepted = v
			case "ftpgate_transfer_bytes_total":
				if label("direction") == "upload" {
					s.BytesUp += v
				} else {
					s.BytesDown += v
				}
			case "ftpgate_logins_total":
				if label("result") == "success" {
					s.LoginsOK += v
				} else {
					s.LoginsFailed += v
				}
			case "ftpgate_commands_total":
				s.Commands += v
				if c := label("class"); c == "4xx" || c == "5xx" {
					s.Refused += v
				}
			}
		}
	}
	return s
}
