package resolver

import (
	"net/netip"
	"strconv"
	"strings"
)

// Suffixes of reverse names, lower-case.
const (
	v4Reverse = ".in-addr.arpa."
	v6Reverse = ".ip6.arpa."
)

// isReverse reports whether the lower-cased FQDN name is under in-addr.arpa
// or ip6.arpa.
func isReverse(name string) bool {
	return strings.HasSuffix(name, v4Reverse) || strings.HasSuffix(name, v6Reverse)
}

// parseReverse returns the address whose reverse name is the lower-cased
// FQDN name: four decimal labels under in-addr.arpa, or 32 hex-digit labels
// under ip6.arpa. ok is false for anything else, partial names included.
func parseReverse(name string) (a netip.Addr, ok bool) {
	if rest, found := strings.CutSuffix(name, v4Reverse); found {
		return parseReverse4(rest)
	}
	if rest, found := strings.CutSuffix(name, v6Reverse); found {
		return parseReverse6(rest)
	}
	return netip.Addr{}, false
}

// parseReverse4 parses "D.C.B.A" as A.B.C.D.
func parseReverse4(s string) (netip.Addr, bool) {
	labels := strings.Split(s, ".")
	if len(labels) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, l := range labels {
		n, ok := parseOctet(l)
		if !ok {
			return netip.Addr{}, false
		}
		b[3-i] = n
	}
	return netip.AddrFrom4(b), true
}

// parseOctet parses a decimal 0..255 without a sign or leading zeros.
func parseOctet(l string) (byte, bool) {
	if l == "" || len(l) > 3 || (len(l) > 1 && l[0] == '0') || l[0] < '0' || l[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseUint(l, 10, 8)
	return byte(n), err == nil
}

// parseReverse6 parses 32 one-hex-digit labels, least significant first.
func parseReverse6(s string) (netip.Addr, bool) {
	if len(s) != 63 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i := range 32 {
		if i > 0 && s[2*i-1] != '.' {
			return netip.Addr{}, false
		}
		n, ok := hexDigit(s[2*i])
		if !ok {
			return netip.Addr{}, false
		}
		pos := 31 - i // nibble index, most significant first
		b[pos/2] |= n << (4 * (1 - pos%2))
	}
	return netip.AddrFrom16(b), true
}

// hexDigit returns the value of one lower-case hex digit.
func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
