package drtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// testPKI is a self-signed CA and a server certificate for 127.0.0.1 it
// signed, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	caPEM                     []byte
}

// newTestPKI writes ca.pem, server.pem and server-key.pem under dir.
func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vaultrepl test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "server.pem"),
		keyFile:  filepath.Join(dir, "server-key.pem"),
		caPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}
	writePEM := func(path string, data []byte) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePEM(p.caFile, p.caPEM)
	writePEM(p.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}))
	writePEM(p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return p
}

// tlsCluster is a cluster whose API serves TLS: its clients trust caFile.
// The embedded cluster's own helpers (client, status, write, …) speak to
// the API with the default TLS settings and so must not be used on it.
// startTLSCluster starts a server with API TLS and initialises and unseals
// it; its client trusts the test CA.
func startTLSCluster(t *testing.T, name string, p testPKI) *cluster {
	t.Helper()
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{
		Args:        []string{"-heartbeat-interval", "200ms"},
		TLSCertFile: p.certFile,
		TLSKeyFile:  p.keyFile,
		CACertPEM:   p.caPEM,
	})
	if !strings.HasPrefix(srv.Addr, "https://") {
		t.Fatalf("%s: TLS server address %s", name, srv.Addr)
	}
	return initCluster(t, name, srv)
}

// TestSecondaryEnableWithTLSPrimary enables secondaries of a primary whose
// API serves TLS with a private CA: without ca_file the unwrap fails with a
// TLS error and nothing changes on either side; with ca_file, and with
// ca_path naming a folder holding the CA, the secondaries converge.
func TestSecondaryEnableWithTLSPrimary(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	caDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(caDir, "ca.pem"), pki.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	a := startTLSCluster(t, "A", pki)
	b := startCluster(t, "B")
	c := startCluster(t, "C")

	// The official client without the CA is refused: the API really is TLS
	// with an untrusted certificate.
	plain, err := vaultapi.NewClient(&vaultapi.Config{Address: a.srv.Addr, MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Sys().Health(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("client without the CA: %v, want a certificate error", err)
	}

	if _, err := a.client(a.root).Logical().Write("sys/replication/dr/primary/enable", map[string]any{}); err != nil {
		t.Fatalf("enable primary: %v", err)
	}
	if st := a.status(); st.Mode != "primary" || st.State != "running" {
		t.Fatalf("primary status %+v", st)
	}
	if _, err := a.client(a.root).Logical().Write("secret/on-a", map[string]any{"v": "1"}); err != nil {
		t.Fatalf("write on primary: %v", err)
	}

	// (a) Without ca_file the secondary cannot verify the primary's
	// certificate: 400 naming TLS and ca_file, and nothing changes.
	b.write(b.root, "secret/only-on-b", map[string]any{"v": "kept"})
	tokenB := a.secondaryToken(a.root, "b", nil)
	code, body := b.raw(http.MethodPut, "/v1/sys/replication/dr/secondary/enable", b.root, fmt.Sprintf(`{"token":%q}`, tokenB))
	if code != http.StatusBadRequest || !strings.Contains(body, "TLS") || !strings.Contains(body, "ca_file") || !strings.Contains(body, a.srv.Addr) {
		t.Fatalf("enable without ca_file: %d %s", code, body)
	}
	t.Logf("enable without ca_file: %d %s", code, body)
	if strings.Contains(body, tokenB) {
		t.Fatalf("error echoes the activation token: %s", body)
	}
	if st := b.status(); st.Mode != "disabled" || st.ClusterID != "" {
		t.Fatalf("secondary status after the failed enable: %+v", st)
	}
	if s, err := b.rootClient().Logical().Read("secret/only-on-b"); err != nil || s == nil || s.Data["v"] != "kept" {
		t.Fatalf("B's data after the failed enable: %v %v", s, err)
	}

	// (b) The same token with ca_file: the failed attempt never reached the
	// primary, so the token is still unused there.
	sec, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/enable", map[string]any{"token": tokenB, "ca_file": pki.caFile})
	if err != nil || len(sec.Warnings) == 0 {
		t.Fatalf("enable with ca_file: %v %+v", err, sec)
	}
	waitInSync(t, a, b)
	if st := b.status(); st.SecondaryID != "b" || st.ClusterID != a.status().ClusterID {
		t.Fatalf("secondary B status %+v", st)
	}

	// (c) A second secondary trusts the CA through ca_path.
	sec, err = c.rootClient().Logical().Write("sys/replication/dr/secondary/enable", map[string]any{"token": a.secondaryToken(a.root, "c", nil), "ca_path": caDir})
	if err != nil || len(sec.Warnings) == 0 {
		t.Fatalf("enable with ca_path: %v %+v", err, sec)
	}
	waitInSync(t, a, c)

	// Both follow further writes.
	if _, err := a.client(a.root).Logical().Write("secret/after", map[string]any{"v": "2"}); err != nil {
		t.Fatalf("write on primary: %v", err)
	}
	waitInSync(t, a, b)
	waitInSync(t, a, c)
	if p := a.status(); len(p.KnownSecondaries) != 2 {
		t.Fatalf("known_secondaries %v", p.KnownSecondaries)
	}
}
