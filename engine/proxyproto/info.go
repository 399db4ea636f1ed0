package proxyproto

import (
	"fmt"
	"net"
	"unicode"
	"unicode/utf8"

	"github.com/ftpgate/ftpgate/engine"
	pp "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// maxTextTLV bounds the text TLVs kept (authority, ALPN, SSL names), so
// that a header near go-proxyproto's 4 KiB limit cannot put kilobytes in
// every log line; longer values are dropped.
const maxTextTLV = 255

// proxyInfo turns a parsed header into the engine's ProxyInfo. It refuses
// headers the engine could not use: addresses other than TCP over IPv4 or
// IPv6, and TLVs that do not split.
func proxyInfo(h *pp.Header, peer net.Addr) (*engine.ProxyInfo, error) {
	info := &engine.ProxyInfo{Version: int(h.Version), Balancer: peer}
	if h.Command.IsLocal() {
		info.Local = true
		return info, nil
	}
	if h.TransportProtocol != pp.UNSPEC {
		// v1 UNKNOWN has no addresses: the spec says to use the
		// connection's own, as for LOCAL.
		src, dst, ok := h.TCPAddrs()
		if !ok || src == nil || dst == nil {
			return nil, fmt.Errorf("%w (%v)", ErrUnsupportedAddress, h.TransportProtocol)
		}
		info.Source, info.Destination = src, dst
	}
	tlvs, err := h.TLVs()
	if err != nil {
		return nil, fmt.Errorf("proxyproto: malformed PROXY header TLVs: %w", err)
	}
	for _, t := range tlvs {
		switch t.Type {
		case pp.PP2_TYPE_AUTHORITY:
			info.Authority = text(t.Value)
		case pp.PP2_TYPE_ALPN:
			info.ALPN = text(t.Value)
		}
	}
	if ssl, ok := tlvparse.FindSSL(tlvs); ok {
		info.SSL = ssl.ClientSSL()
		info.SSLVerified = ssl.Verified()
		if v, ok := ssl.SSLVersion(); ok {
			info.SSLVersion = text([]byte(v))
		}
		if v, ok := ssl.SSLCipher(); ok {
			info.SSLCipher = text([]byte(v))
		}
		if v, ok := ssl.ClientCN(); ok {
			info.SSLClientCN = text([]byte(v))
		}
	}
	return info, nil
}

// text returns a TLV's value when it is short, valid UTF-8 without
// control characters, and "" otherwise: these values end up in logs and
// in drivers' tenant lookups.
func text(b []byte) string {
	if len(b) > maxTextTLV || !utf8.Valid(b) {
		return ""
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) {
			return ""
		}
	}
	return string(b)
}
