package engine

import "io"

// asciiEncoder converts a file's line endings to the CRLF of TYPE A on the
// way out: every LF not already preceded by CR gets one.
type asciiEncoder struct {
	r      io.Reader
	buf    []byte
	store  []byte // backing array of out
	out    []byte // converted bytes not yet returned
	lastCR bool   // the last byte read was CR
	err    error
}

func newASCIIEncoder(r io.Reader) *asciiEncoder {
	return &asciiEncoder{r: r, buf: make([]byte, 16<<10), store: make([]byte, 0, 32<<10)}
}

// Read returns converted bytes.
func (e *asciiEncoder) Read(p []byte) (int, error) {
	for len(e.out) == 0 {
		if e.err != nil {
			return 0, e.err
		}
		n, err := e.r.Read(e.buf)
		e.err = err
		out := e.store[:0]
		for _, c := range e.buf[:n] {
			if c == '\n' && !e.lastCR {
				out = append(out, '\r')
			}
			out = append(out, c)
			e.lastCR = c == '\r'
		}
		e.out = out
	}
	n := copy(p, e.out)
	e.out = e.out[n:]
	return n, nil
}

// asciiDecoder converts TYPE A's CRLF to LF on the way in. A CR not
// followed by LF is kept; one at the end of a read is held back until the
// next byte shows which it is.
type asciiDecoder struct {
	r         io.Reader
	buf       []byte
	store     []byte // backing array of out
	out       []byte
	pendingCR bool
	err       error
}

func newASCIIDecoder(r io.Reader) *asciiDecoder {
	return &asciiDecoder{r: r, buf: make([]byte, 16<<10), store: make([]byte, 0, 16<<10)}
}

// Read returns converted bytes.
func (d *asciiDecoder) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			if d.pendingCR {
				d.pendingCR = false
				d.out = append(d.store[:0], '\r')
				break
			}
			return 0, d.err
		}
		n, err := d.r.Read(d.buf)
		d.err = err
		out := d.store[:0]
		for _, c := range d.buf[:n] {
			if d.pendingCR {
				d.pendingCR = false
				if c != '\n' {
					out = append(out, '\r')
				}
			}
			if c == '\r' {
				d.pendingCR = true
				continue
			}
			out = append(out, c)
		}
		d.out = out
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}
