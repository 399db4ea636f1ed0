package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Response is a guest's answer before the host validates it.
type Response struct {
	Action      uint8
	Code        uint16
	Message     string
	NewPath     string
	HasNewPath  bool
	MaxBytes    uint64
	HasMaxBytes bool
	Annotations []string
}

// Limits on responses, enforced by ParseResponse.
const (
	MaxResponseLen    = 4096 // bytes the host copies out of guest memory
	MaxAnnotations    = 8
	MaxMessageLen     = 200 // bytes kept of a message after cleaning
	MaxAnnotationLen  = 256
	maxResponsePathLn = 4096
)

// ErrUnknownAction is returned for an action the host does not know; the
// host fails closed on it.
var ErrUnknownAction = errors.New("abi: unknown action")

// AppendResponse appends r's encoding to b. An allow without anything else
// encodes as no fields at all; guests may then return 0 instead.
func AppendResponse(b []byte, r *Response) []byte {
	if r.Action != ActionAllow {
		b = append(b, TagAction, 1, 0, r.Action)
	}
	if r.Code != 0 {
		b = append(b, TagCode, 2, 0, byte(r.Code), byte(r.Code>>8))
	}
	if r.Message != "" {
		b = AppendField(b, TagMessage, r.Message)
	}
	if r.HasNewPath {
		b = AppendField(b, TagNewPath, r.NewPath)
	}
	if r.HasMaxBytes {
		b = AppendUint(b, TagMaxBytes, r.MaxBytes)
	}
	for _, a := range r.Annotations {
		b = AppendField(b, TagAnnotation, a)
	}
	return b
}

// ParseResponse decodes a response strictly: truncated fields, wrong
// integer widths, an unknown action, more than MaxResponseLen bytes or more
// than MaxAnnotations annotations are errors. Unknown tags are skipped, so
// that later minor versions can add fields. Strings are copied.
func ParseResponse(b []byte) (*Response, error) {
	r := &Response{}
	if err := r.Parse(b); err != nil {
		return nil, err
	}
	return r, nil
}

// Parse is ParseResponse into r, which it resets first; the host uses it
// to decode without allocating a Response per call.
func (r *Response) Parse(b []byte) error {
	*r = Response{}
	if len(b) > MaxResponseLen {
		return fmt.Errorf("abi: response of %d bytes exceeds %d", len(b), MaxResponseLen)
	}
	return Fields(b, func(tag byte, v []byte) error {
		switch tag {
		case TagAction:
			if len(v) != 1 {
				return fmt.Errorf("action: %w", ErrFieldLength)
			}
			if v[0] > ActionRewrite {
				return fmt.Errorf("%w %d", ErrUnknownAction, v[0])
			}
			r.Action = v[0]
		case TagCode:
			if len(v) != 2 {
				return fmt.Errorf("code: %w", ErrFieldLength)
			}
			r.Code = binary.LittleEndian.Uint16(v)
		case TagMessage:
			r.Message = string(v)
		case TagNewPath:
			if len(v) > maxResponsePathLn {
				return errors.New("abi: new path longer than 4096 bytes")
			}
			r.NewPath, r.HasNewPath = string(v), true
		case TagMaxBytes:
			n, err := Uint(v)
			if err != nil {
				return fmt.Errorf("max_bytes: %w", err)
			}
			r.MaxBytes, r.HasMaxBytes = n, true
		case TagAnnotation:
			if len(r.Annotations) == MaxAnnotations {
				return fmt.Errorf("abi: more than %d annotations", MaxAnnotations)
			}
			if len(v) > MaxAnnotationLen {
				v = v[:MaxAnnotationLen]
			}
			r.Annotations = append(r.Annotations, string(v))
		}
		return nil
	})
}
