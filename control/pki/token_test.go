package pki

import (
	"strings"
	"testing"
)

var (
	testFP     = strings.Repeat("0123456789abcdef", 4)
	testSecret = "abcdefghijklmnopqrstuvwxyz234567"
)

func TestTokenRoundTrip(t *testing.T) {
	ca := mustCA(t, "cluster-a")
	tok := Token{Fingerprint: ca.Fingerprint(), Secret: NewSecret()}
	s := tok.String()
	if want := "WEFT-1-" + tok.Fingerprint + "-" + tok.Secret; s != want {
		t.Fatalf("String: got %q; want %q", s, want)
	}
	for _, in := range []string{s, " " + s + "\n"} {
		got, err := ParseToken(in)
		if err != nil || got != tok {
			t.Errorf("ParseToken(%q): got %+v, %v; want %+v", in, got, err, tok)
		}
	}
}

func TestParseTokenErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `does not start with "WEFT-"`},
		{"docker token", "SWMTKN-1-" + testFP + "-" + testSecret, `does not start with "WEFT-"`},
		{"lowercase prefix", "weft-1-" + testFP + "-" + testSecret, `does not start with "WEFT-"`},
		{"version 2", "WEFT-2-" + testFP + "-" + testSecret, `unsupported version "2"`},
		{"no version", "WEFT-", `unsupported version ""`},
		{"no secret", "WEFT-1-" + testFP, "want WEFT-1-<fingerprint>-<secret>"},
		{"short fingerprint", "WEFT-1-" + testFP[:63] + "-" + testSecret, "fingerprint has 63 characters; want 64"},
		{"long fingerprint", "WEFT-1-" + testFP + "0-" + testSecret, "fingerprint has 65 characters; want 64"},
		{"uppercase fingerprint", "WEFT-1-" + strings.ToUpper(testFP) + "-" + testSecret, "want lowercase hex"},
		{"non-hex fingerprint", "WEFT-1-" + "g" + testFP[1:] + "-" + testSecret, `fingerprint has 'g' at 0`},
		{"short secret", "WEFT-1-" + testFP + "-" + testSecret[:25], "secret has 25 characters; want at least 26"},
		{"empty secret", "WEFT-1-" + testFP + "-", "secret has 0 characters"},
		{"uppercase secret", "WEFT-1-" + testFP + "-" + strings.ToUpper(testSecret), "other than lowercase base32 at 0"},
		{"digit 1 in secret", "WEFT-1-" + testFP + "-" + testSecret + "1", "other than lowercase base32 at 32"},
		{"extra field", "WEFT-1-" + testFP + "-" + testSecret + "-x", "other than lowercase base32 at 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseToken(tt.in)
			wantErr(t, "ParseToken", err, tt.want)
			if err != nil && !strings.HasPrefix(err.Error(), "invalid join token: ") {
				t.Errorf("error %q; want prefix %q", err, "invalid join token: ")
			}
			if err != nil && strings.Contains(err.Error(), testSecret[:20]) {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add("WEFT-1-" + testFP + "-" + testSecret)
	f.Add("WEFT-1-" + testFP + "-" + testSecret[:26] + "\n")
	f.Add("WEFT-1-" + testFP[:10] + "-" + testSecret)
	f.Add("WEFT-2--")
	f.Add("SWMTKN-1-x-y")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid join token: ") {
				t.Fatalf("ParseToken(%q) error %q lacks the prefix", s, err)
			}
			return
		}
		if got, want := tok.String(), strings.TrimSpace(s); got != want {
			t.Fatalf("ParseToken(%q).String() = %q; want %q", s, got, want)
		}
		if validateFingerprint(tok.Fingerprint) != nil || validateSecret(tok.Secret) != nil {
			t.Fatalf("ParseToken(%q) accepted invalid fields %+v", s, tok)
		}
		if again, err := ParseToken(tok.String()); err != nil || again != tok {
			t.Fatalf("re-parse of %q: got %+v, %v; want %+v", tok, again, err, tok)
		}
	})
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := NewSecret()
		if err := validateSecret(s); err != nil {
			t.Fatalf("NewSecret() = %q: %v", s, err)
		}
		if seen[s] {
			t.Fatalf("NewSecret() repeated %q", s)
		}
		seen[s] = true
	}
}

func TestCheckSecret(t *testing.T) {
	tests := []struct {
		got, want string
		ok        bool
	}{
		{testSecret, testSecret, true},
		{testSecret[:31] + "a", testSecret, false},
		{testSecret[:26], testSecret, false},
		{"", testSecret, false},
		{"", "", false},
	}
	for _, tt := range tests {
		if ok := CheckSecret(tt.got, tt.want); ok != tt.ok {
			t.Errorf("CheckSecret(%q, %q) = %v; want %v", tt.got, tt.want, ok, tt.ok)
		}
	}
}
