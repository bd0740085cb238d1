package pki

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

const (
	tokenPrefix  = "WEFT-"
	tokenVersion = "1"
	// fingerprintLen is the length of a hex SHA-256.
	fingerprintLen = 64
	// MinSecretLen is the shortest secret a token may carry: 26 base32
	// characters hold 128 bits.
	MinSecretLen = 26
)

// Token is a join token, WEFT-1-<fingerprint>-<secret>. Fingerprint pins the
// cluster CA (see Fingerprint); Secret is the worker or manager secret, and
// the managers tell the role by which one it is.
type Token struct {
	Fingerprint, Secret string
}

// NewSecret returns a fresh random secret of MinSecretLen lowercase base32
// characters (128 bits).
func NewSecret() string {
	return strings.ToLower(rand.Text())
}

// String formats t as WEFT-1-<fingerprint>-<secret>.
func (t Token) String() string {
	return tokenPrefix + tokenVersion + "-" + t.Fingerprint + "-" + t.Secret
}

// ParseToken parses a join token, ignoring surrounding white space. The
// fingerprint must be 64 lowercase hex digits and the secret at least
// MinSecretLen lowercase base32 characters.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return Token{}, errors.New(`invalid join token: does not start with "WEFT-"`)
	}
	version, rest, ok := strings.Cut(rest, "-")
	if !ok || version != tokenVersion {
		return Token{}, fmt.Errorf("invalid join token: unsupported version %q; want %q", version, tokenVersion)
	}
	fp, secret, ok := strings.Cut(rest, "-")
	if !ok {
		return Token{}, errors.New("invalid join token: want WEFT-1-<fingerprint>-<secret>")
	}
	if err := validateFingerprint(fp); err != nil {
		return Token{}, fmt.Errorf("invalid join token: %w", err)
	}
	if err := validateSecret(secret); err != nil {
		return Token{}, fmt.Errorf("invalid join token: %w", err)
	}
	return Token{Fingerprint: fp, Secret: secret}, nil
}

// CheckSecret reports whether got equals want, in time that does not depend
// on where they differ. An empty want matches nothing.
func CheckSecret(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// validateFingerprint validates a token's fingerprint field.
func validateFingerprint(fp string) error {
	if len(fp) != fingerprintLen {
		return fmt.Errorf("fingerprint has %d characters; want %d", len(fp), fingerprintLen)
	}
	for i := 0; i < len(fp); i++ {
		if c := fp[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("fingerprint has %q at %d; want lowercase hex", c, i)
		}
	}
	return nil
}

// validateSecret validates a token's secret field without echoing it.
func validateSecret(secret string) error {
	if len(secret) < MinSecretLen {
		return fmt.Errorf("secret has %d characters; want at least %d", len(secret), MinSecretLen)
	}
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return fmt.Errorf("secret has a character other than lowercase base32 at %d", i)
		}
	}
	return nil
}
