package pki

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"testing"
)

func TestSignMessage(t *testing.T) {
	ec, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	_, ed, _ := ed25519.GenerateKey(nil)
	other, _ := NewNodeKey()
	for _, key := range []crypto.Signer{ec, ed} {
		der, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ParseNodeKey(der)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("weft gossip record v1 ...")
		sig, err := SignMessage(key, msg)
		if err != nil {
			t.Fatal(err)
		}
		if !VerifyMessage(pub, msg, sig) {
			t.Errorf("%T: a good signature does not verify", key)
		}
		if VerifyMessage(pub, append(msg, '!'), sig) {
			t.Errorf("%T: the signature verifies another message", key)
		}
		if VerifyMessage(other.Public(), msg, sig) {
			t.Errorf("%T: the signature verifies under another key", key)
		}
		if VerifyMessage(pub, msg, nil) {
			t.Errorf("%T: no signature verifies", key)
		}
	}
	if _, err := ParseNodeKey([]byte("junk")); err == nil {
		t.Error("ParseNodeKey accepted junk")
	}
}

// What signing and checking one gossip record costs with a node key.
func BenchmarkSignMessage(b *testing.B) {
	key, _ := NewNodeKey()
	msg := make([]byte, 160)
	for b.Loop() {
		_, _ = SignMessage(key, msg)
	}
}

func BenchmarkVerifyMessage(b *testing.B) {
	key, _ := NewNodeKey()
	msg := make([]byte, 160)
	sig, _ := SignMessage(key, msg)
	for b.Loop() {
		VerifyMessage(key.Public(), msg, sig)
	}
}
