// Package tokentls makes a token prove the daemon to its clients, not only
// the clients to the daemon.
//
// A bearer token proves its sender to whoever receives it. Sent to a
// program that took the daemon's port while the daemon was down, it would
// be that program's. So a client sends its token only inside TLS, to a
// peer that proved in the handshake that it holds the same token: each
// token stands for an Ed25519 key derived from it (HKDF-SHA256), the client
// asks for that key by a name derived from its public half (the TLS server
// name), and the daemon answers with a certificate of that key and signs
// the handshake with it, which only a holder of the token can. Nothing of
// the certificate but its key is checked: the key is the identity, and no
// file, pin or certificate authority has to reach the clients, which hold
// their token already. A holder of one token cannot pose as the daemon
// to the holders of another: the read token, which every local user may
// read, proves nothing to a client of the admin or agent token. TLS 1.3
// only.
package tokentls

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"
)

// info is the HKDF info string: a new derivation gets a new one, so
// keys of two derivations never meet.
const info = "wslfwd daemon identity v1"

// nameSuffix ends every identity's server name: a reserved top-level
// domain (RFC 6761), so no resolver or certificate authority knows it.
const nameSuffix = ".wslfwd.invalid"

// identity is the key a token stands for and the server name a client
// asks for it by.
type identity struct {
	name string
	key  ed25519.PrivateKey
}

// identityOf derives tok's identity. The name is a hash of the public key:
// it is sent in clear, and tells nothing of the token.
func identityOf(tok string) (identity, error) {
	seed, err := hkdf.Key(sha256.New, []byte(tok), nil, info, ed25519.SeedSize)
	if err != nil {
		return identity{}, fmt.Errorf("derive the token's key: %w", err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	sum := sha256.Sum256(key.Public().(ed25519.PublicKey))
	return identity{name: hex.EncodeToString(sum[:16]) + nameSuffix, key: key}, nil
}

// public is the identity's public key.
func (id identity) public() ed25519.PublicKey { return id.key.Public().(ed25519.PublicKey) }

// certificate makes the self-signed certificate the daemon presents for
// the identity. Its fields are fixed, so it is the same at every start,
// and needs no clock: clients check only its key.
func (id identity) certificate() (*tls.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		DNSNames:     []string{id.name},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, id.public(), id.key)
	if err != nil {
		return nil, fmt.Errorf("make the identity's certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("make the identity's certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.key, Leaf: leaf}, nil
}

// baseConfig is what both ends share: TLS 1.3 only, HTTP/2, and no
// session tickets, so every connection is proven by a full handshake.
//
// One key agreement, X25519, the cheapest: a handshake's cost is what any
// peer without a token can make the daemon spend, again and again, and
// the hybrid post-quantum default (X25519MLKEM768) costs more and protects
// nothing here. Whoever could record this traffic (an administrator on the
// host, root in the WSL VM) can read the tokens anyway.
func baseConfig() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		NextProtos:             []string{"h2"},
		SessionTicketsDisabled: true,
		CurvePreferences:       []tls.CurveID{tls.X25519},
	}
}
