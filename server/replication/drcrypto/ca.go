package drcrypto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ServerName is the DNS SAN of every primary's cluster-port server
// certificate, and the name secondaries verify it against. Cluster addresses
// change on failover (a promoted secondary becomes the primary at its own
// address), so binding certificates to addresses would break replication
// exactly when it matters; the CA, not the address, is the identity.
const ServerName = "vaultrepl-dr-primary"

const (
	// validityYears is the lifetime of the CA and of every leaf it issues.
	// DR clusters live for years and there is no rotation protocol yet, so
	// the certificates must not expire under a running replication set.
	validityYears = 10
	// backdate absorbs small clock skew between the issuing primary and the
	// peer that verifies the certificate a moment later.
	backdate = time.Minute
)

// CA is a DR replication set's certificate authority. Its certificate is
// shared with every member; its key stays on the primary.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     *ecdsa.PrivateKey
	KeyPEM  []byte
}

// randomSerial returns a random positive serial of up to 128 bits, as
// RFC 5280 §4.1.2.2 and the CA/B baseline (≥64 bits of entropy) ask.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("drcrypto: generating serial number: %w", err)
		}
		if n.Sign() > 0 { // zero is not a valid serial
			return n, nil
		}
	}
}

// NewCA creates a self-signed P-521 CA for the DR cluster clusterID.
func NewCA(clusterID string, now time.Time) (*CA, error) {
	if clusterID == "" {
		return nil, errors.New("drcrypto: cluster ID is required to create a DR CA")
	}
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: generating CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vaultrepl DR CA " + clusterID},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.AddDate(validityYears, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		// The CA only signs leaves, never intermediates: path length 0 stops
		// a leaked leaf key from being used to mint further certificates.
		MaxPathLen:     0,
		MaxPathLenZero: true,
		KeyUsage:       x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: self-signing CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: parsing new CA certificate: %w", err)
	}
	keyPEM, err := marshalECDSAKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return &CA{
		Cert:    cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: pemTypeCert, Bytes: der}),
		Key:     key,
		KeyPEM:  keyPEM,
	}, nil
}

// LoadCA rebuilds a CA from its stored PEM certificate and key, checking that
// they belong together so a mix-up in storage is caught here rather than as a
// stream of handshake failures later.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, errors.New("drcrypto: certificate is not a CA certificate")
	}
	key, err := parseECDSAKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("drcrypto: CA private key does not match the CA certificate")
	}
	return &CA{
		Cert:    cert,
		CertPEM: append([]byte(nil), certPEM...),
		Key:     key,
		KeyPEM:  append([]byte(nil), keyPEM...),
	}, nil
}

// ParseCertPEM parses the first PEM "CERTIFICATE" block of certPEM.
func ParseCertPEM(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, errors.New("drcrypto: certificate is not PEM encoded")
	}
	if block.Type != pemTypeCert {
		return nil, fmt.Errorf("drcrypto: PEM block is %q, want %q", block.Type, pemTypeCert)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: parsing certificate: %w", err)
	}
	return cert, nil
}

// Fingerprint is the lowercase hex SHA-256 of the certificate's DER. The
// primary records it per secondary so a revoked secondary's certificate can
// be refused even though it still chains to the CA.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// issue signs a fresh P-521 leaf built from tmpl and returns it with its key.
func (ca *CA) issue(tmpl *x509.Certificate, now time.Time) (*x509.Certificate, []byte, []byte, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, nil, nil, errors.New("drcrypto: CA is not loaded")
	}
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("drcrypto: generating certificate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.AddDate(validityYears, 0, 0)
	// A leaf cannot usefully outlive its issuer; clamp it so the certificate
	// does not advertise a validity that verification will never honor.
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("drcrypto: signing certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("drcrypto: parsing new certificate: %w", err)
	}
	keyPEM, err := marshalECDSAKeyPEM(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: pemTypeCert, Bytes: der}), keyPEM, nil
}

// IssueServer issues a cluster-port server certificate for a primary, valid
// for ServerName.
func (ca *CA) IssueServer(now time.Time) (certPEM, keyPEM []byte, err error) {
	_, certPEM, keyPEM, err = ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: ServerName},
		DNSNames:    []string{ServerName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, now)
	return certPEM, keyPEM, err
}

// IssueClient issues the client certificate a secondary presents on the
// cluster port. Its CN is the secondary's ID, which is how the primary knows
// who is connecting; fingerprint identifies this exact certificate.
func (ca *CA) IssueClient(secondaryID string, now time.Time) (certPEM, keyPEM []byte, fingerprint string, err error) {
	if secondaryID == "" {
		return nil, nil, "", errors.New("drcrypto: secondary ID is required to issue a client certificate")
	}
	cert, certPEM, keyPEM, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: secondaryID},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, now)
	if err != nil {
		return nil, nil, "", err
	}
	return certPEM, keyPEM, Fingerprint(cert), nil
}

// caPool builds a pool holding only the DR CA: members of a replication set
// trust each other through it and nothing else, never the system roots.
func caPool(caCertPEM []byte) (*x509.CertPool, error) {
	cert, err := ParseCertPEM(caCertPEM)
	if err != nil {
		return nil, fmt.Errorf("drcrypto: CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

// keyPair loads a PEM certificate and key; tls.X509KeyPair accepts both SEC 1
// and PKCS #8 keys. Its errors describe the PEM structure, not the key.
func keyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("drcrypto: loading certificate and key: %w", err)
	}
	return pair, nil
}

// ServerTLSConfig is the primary's cluster-port TLS configuration. Only
// TLS 1.3 is offered: both ends are vaultrepl, so there is no legacy peer to
// accommodate. Clients must present a certificate chaining to the DR CA, and
// verify is then asked about the secondary (CN of the leaf) and the exact
// certificate (Fingerprint of the leaf); an error from it aborts the
// handshake, which is how a revoked secondary is refused before it can send
// a single request. VerifyConnection also runs on resumed sessions, so a
// session ticket does not outlive a revocation.
func ServerTLSConfig(serverCertPEM, serverKeyPEM []byte, caCertPEM []byte, verify func(id, fingerprint string) error) (*tls.Config, error) {
	if verify == nil {
		// Without the callback every certificate the CA ever issued would be
		// accepted forever; refuse to build a config that skips revocation.
		return nil, errors.New("drcrypto: a verify callback is required for the cluster-port server")
	}
	pair, err := keyPair(serverCertPEM, serverKeyPEM)
	if err != nil {
		return nil, err
	}
	pool, err := caPool(caCertPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			// RequireAndVerifyClientCert has already verified the chain; these
			// checks only guard against that ever being configured away.
			if len(cs.PeerCertificates) == 0 || len(cs.VerifiedChains) == 0 {
				return errors.New("drcrypto: client did not present a certificate issued by the DR CA")
			}
			leaf := cs.PeerCertificates[0]
			return verify(leaf.Subject.CommonName, Fingerprint(leaf))
		},
	}, nil
}

// ClientTLSConfig is a secondary's cluster-port TLS configuration: TLS 1.3
// only, trusting only the DR CA, and expecting ServerName rather than the
// address dialed, since the primary's address changes on failover.
func ClientTLSConfig(clientCertPEM, clientKeyPEM, caCertPEM []byte) (*tls.Config, error) {
	pair, err := keyPair(clientCertPEM, clientKeyPEM)
	if err != nil {
		return nil, err
	}
	pool, err := caPool(caCertPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ServerName:   ServerName,
	}, nil
}
