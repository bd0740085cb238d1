package fdb

import (
	"errors"
	"fmt"
)

// MAC is an Ethernet address.
type MAC [6]byte

const hexDigits = "0123456789abcdef"

// String returns m as six lower-case hex pairs separated by colons, e.g.
// "02:42:c6:13:00:05".
func (m MAC) String() string {
	var b [17]byte
	for i, octet := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i] = hexDigits[octet>>4]
		b[3*i+1] = hexDigits[octet&0xf]
	}
	return string(b[:])
}

// IsMulticast reports whether the I/G bit of m is set, which is true of group
// addresses including the broadcast address ff:ff:ff:ff:ff:ff.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

var errMACSyntax = errors.New("want six hex pairs separated by ':' or '-'")

// ParseMAC parses six hex pairs of either case separated by colons
// ("02:42:c6:13:00:05") or hyphens ("02-42-C6-13-00-05"); mixing separators
// is an error.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 || (s[2] != ':' && s[2] != '-') {
		return MAC{}, fmt.Errorf("parse MAC %q: %w", s, errMACSyntax)
	}
	for i := range m {
		if i > 0 && s[3*i-1] != s[2] {
			return MAC{}, fmt.Errorf("parse MAC %q: %w", s, errMACSyntax)
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return MAC{}, fmt.Errorf("parse MAC %q: %w", s, errMACSyntax)
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
