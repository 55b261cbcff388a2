package drcrypto

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustCA(t *testing.T, id string) *CA {
	t.Helper()
	ca, err := NewCA(id, time.Now())
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

func TestNewCA(t *testing.T) {
	ca, err := NewCA("cluster-1", testNow)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	if got, want := c.Subject.CommonName, "vaultrepl DR CA cluster-1"; got != want {
		t.Errorf("CN = %q, want %q", got, want)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("not a CA: IsCA=%v BCV=%v KeyUsage=%v", c.IsCA, c.BasicConstraintsValid, c.KeyUsage)
	}
	if !c.NotBefore.Equal(testNow.Add(-time.Minute)) {
		t.Errorf("NotBefore = %v", c.NotBefore)
	}
	if !c.NotAfter.Equal(testNow.AddDate(10, 0, 0)) || c.NotAfter.Before(testNow.AddDate(9, 11, 0)) {
		t.Errorf("NotAfter = %v", c.NotAfter)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v not a positive 128-bit number", c.SerialNumber)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P521() {
		t.Errorf("CA key is %T, want P-521 ECDSA", c.PublicKey)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	ca2, err := NewCA("cluster-1", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if ca2.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two CAs share a serial number")
	}
	if _, err := NewCA("", testNow); err == nil {
		t.Error("NewCA with empty cluster ID succeeded")
	}
}

func TestLoadCA(t *testing.T) {
	ca := mustCA(t, "c1")
	other := mustCA(t, "c2")
	serverPEM, _, err := ca.IssueServer(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The same key as PKCS #8, to check both encodings are accepted.
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})

	tests := []struct {
		name    string
		cert    []byte
		key     []byte
		wantErr string
	}{
		{"sec1", ca.CertPEM, ca.KeyPEM, ""},
		{"pkcs8", ca.CertPEM, pkcs8, ""},
		{"mismatched key", ca.CertPEM, other.KeyPEM, "does not match"},
		{"leaf not CA", serverPEM, ca.KeyPEM, "not a CA"},
		{"garbage cert", []byte("nope"), ca.KeyPEM, "not PEM"},
		{"garbage key", ca.CertPEM, []byte("nope"), "not PEM"},
		{"key as cert", ca.KeyPEM, ca.KeyPEM, "want \"CERTIFICATE\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadCA(tt.cert, tt.key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Cert.Equal(ca.Cert) || !got.Key.Equal(ca.Key) {
				t.Fatal("loaded CA differs")
			}
			// A loaded CA can still issue certificates that chain to it.
			if _, _, _, err := got.IssueClient("s1", time.Now()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestIssue(t *testing.T) {
	ca := mustCA(t, "c1")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	srvPEM, srvKey, err := ca.IssueServer(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ParseCertPEM(srvPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: ServerName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("server cert does not verify for %s: %v", ServerName, err)
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("server cert verifies for client auth")
	}
	if srv.IsCA {
		t.Error("server cert is a CA")
	}
	if _, err := tls.X509KeyPair(srvPEM, srvKey); err != nil {
		t.Errorf("server key pair: %v", err)
	}

	cliPEM, cliKey, fp, err := ca.IssueClient("secondary-a", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ParseCertPEM(cliPEM)
	if err != nil {
		t.Fatal(err)
	}
	if cli.Subject.CommonName != "secondary-a" {
		t.Errorf("client CN = %q", cli.Subject.CommonName)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert does not verify: %v", err)
	}
	if fp != Fingerprint(cli) || len(fp) != 64 || strings.ToLower(fp) != fp {
		t.Errorf("fingerprint %q", fp)
	}
	if _, err := tls.X509KeyPair(cliPEM, cliKey); err != nil {
		t.Errorf("client key pair: %v", err)
	}
	if !cli.NotAfter.After(time.Now().AddDate(9, 11, 0)) || cli.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("client NotAfter %v (CA %v)", cli.NotAfter, ca.Cert.NotAfter)
	}
	_, _, fp2, err := ca.IssueClient("secondary-a", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if fp2 == fp {
		t.Error("reissued certificate has the same fingerprint")
	}
	if _, _, _, err := ca.IssueClient("", time.Now()); err == nil {
		t.Error("IssueClient with empty ID succeeded")
	}
}

// handshake runs a real TLS handshake over loopback TCP and exchanges one
// message, because under TLS 1.3 a client learns that the server rejected its
// certificate only when it next reads.
func handshake(t *testing.T, srvCfg, cliCfg *tls.Config) (srvErr, cliErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, srvCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			done <- err
			return
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(tc, buf); err != nil {
			done <- err
			return
		}
		_, err = tc.Write([]byte("pong"))
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, cliCfg)
	cliErr = func() error {
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		if st := tc.ConnectionState(); st.Version != tls.VersionTLS13 {
			return errors.New("negotiated a version other than TLS 1.3")
		}
		if _, err := tc.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(tc, buf); err != nil {
			return err
		}
		if !bytes.Equal(buf, []byte("pong")) {
			return errors.New("bad reply")
		}
		return nil
	}()
	c.Close() // unblock the server if the client gave up first
	return <-done, cliErr
}

func TestTLSHandshake(t *testing.T) {
	ca := mustCA(t, "c1")
	otherCA := mustCA(t, "c2")
	now := time.Now()
	srvCert, srvKey, err := ca.IssueServer(now)
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, cliFP, err := ca.IssueClient("sec-1", now)
	if err != nil {
		t.Fatal(err)
	}
	foreignCert, foreignKey, _, err := otherCA.IssueClient("sec-1", now)
	if err != nil {
		t.Fatal(err)
	}
	foreignSrvCert, foreignSrvKey, err := otherCA.IssueServer(now)
	if err != nil {
		t.Fatal(err)
	}
	errRevoked := errors.New("secondary sec-1 is revoked")

	type verifyCall struct{ id, fp string }
	tests := []struct {
		name       string
		srvCert    []byte
		srvKey     []byte
		verifyErr  error
		client     func(t *testing.T) *tls.Config
		wantOK     bool
		wantSrvErr error // if set, errors.Is on the server's error
	}{
		{
			name:   "valid",
			client: func(t *testing.T) *tls.Config { return mustClientCfg(t, cliCert, cliKey, ca.CertPEM) },
			wantOK: true,
		},
		{
			name:   "client cert from another CA",
			client: func(t *testing.T) *tls.Config { return mustClientCfg(t, foreignCert, foreignKey, ca.CertPEM) },
		},
		{
			// Go's client withholds a certificate that does not chain to the
			// CAs the server advertises; force it to be sent so the server's
			// own chain verification is what refuses it.
			name: "client cert from another CA, sent anyway",
			client: func(t *testing.T) *tls.Config {
				cfg := mustClientCfg(t, foreignCert, foreignKey, ca.CertPEM)
				pair := cfg.Certificates[0]
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
				return cfg
			},
		},
		{
			name: "no client cert",
			client: func(t *testing.T) *tls.Config {
				cfg := mustClientCfg(t, cliCert, cliKey, ca.CertPEM)
				cfg.Certificates = nil
				return cfg
			},
		},
		{
			name:       "revoked by verify callback",
			verifyErr:  errRevoked,
			client:     func(t *testing.T) *tls.Config { return mustClientCfg(t, cliCert, cliKey, ca.CertPEM) },
			wantSrvErr: errRevoked,
		},
		{
			name: "TLS 1.2 only client",
			client: func(t *testing.T) *tls.Config {
				cfg := mustClientCfg(t, cliCert, cliKey, ca.CertPEM)
				cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
				return cfg
			},
		},
		{
			name:    "server cert from another CA",
			srvCert: foreignSrvCert,
			srvKey:  foreignSrvKey,
			client:  func(t *testing.T) *tls.Config { return mustClientCfg(t, cliCert, cliKey, ca.CertPEM) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, sk := srvCert, srvKey
			if tt.srvCert != nil {
				sc, sk = tt.srvCert, tt.srvKey
			}
			var calls []verifyCall
			srvCfg, err := ServerTLSConfig(sc, sk, ca.CertPEM, func(id, fp string) error {
				calls = append(calls, verifyCall{id, fp})
				return tt.verifyErr
			})
			if err != nil {
				t.Fatal(err)
			}
			srvErr, cliErr := handshake(t, srvCfg, tt.client(t))
			if tt.wantOK {
				if srvErr != nil || cliErr != nil {
					t.Fatalf("handshake failed: server %v, client %v", srvErr, cliErr)
				}
				if len(calls) != 1 || calls[0] != (verifyCall{"sec-1", cliFP}) {
					t.Fatalf("verify calls = %+v, want one for sec-1/%s", calls, cliFP)
				}
				return
			}
			t.Logf("server: %v; client: %v", srvErr, cliErr)
			if srvErr == nil || cliErr == nil {
				t.Fatalf("handshake should fail on both ends: server %v, client %v", srvErr, cliErr)
			}
			if tt.wantSrvErr != nil && !errors.Is(srvErr, tt.wantSrvErr) {
				t.Fatalf("server error %v, want %v", srvErr, tt.wantSrvErr)
			}
			if tt.verifyErr == nil && len(calls) != 0 {
				t.Fatalf("verify called for a rejected certificate: %+v", calls)
			}
		})
	}
}

func mustClientCfg(t *testing.T, cert, key, caPEM []byte) *tls.Config {
	t.Helper()
	cfg, err := ClientTLSConfig(cert, key, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTLSConfigs(t *testing.T) {
	ca := mustCA(t, "c1")
	srvCert, srvKey, err := ca.IssueServer(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ok := func(string, string) error { return nil }
	scfg, err := ServerTLSConfig(srvCert, srvKey, ca.CertPEM, ok)
	if err != nil {
		t.Fatal(err)
	}
	if scfg.MinVersion != tls.VersionTLS13 || scfg.ClientAuth != tls.RequireAndVerifyClientCert || scfg.VerifyConnection == nil {
		t.Errorf("server config: %+v", scfg)
	}
	ccfg, err := ClientTLSConfig(srvCert, srvKey, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if ccfg.MinVersion != tls.VersionTLS13 || ccfg.ServerName != ServerName || ccfg.RootCAs == nil || ccfg.InsecureSkipVerify {
		t.Errorf("client config: %+v", ccfg)
	}
	if _, err := ServerTLSConfig(srvCert, srvKey, ca.CertPEM, nil); err == nil {
		t.Error("ServerTLSConfig accepted a nil verify callback")
	}
	if _, err := ServerTLSConfig(srvCert, srvKey, []byte("x"), ok); err == nil {
		t.Error("ServerTLSConfig accepted a garbage CA")
	}
	if _, err := ClientTLSConfig(srvCert, ca.KeyPEM, ca.CertPEM); err == nil {
		t.Error("ClientTLSConfig accepted a mismatched key")
	}
}
