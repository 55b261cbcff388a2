package drtest

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
)

// clusterGet tries one request on the cluster port with cfg and reports the
// status code, or the error that stopped it.
func clusterPost(addr string, cfg *tls.Config) (int, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("https://"+addr+"/dr/sync/start", "application/json", strings.NewReader("{}"))
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// TestClusterPortRefusesStrangers: nothing works on the cluster port
// without this DR set's certificate of a live secondary.
func TestClusterPortRefusesStrangers(t *testing.T) {
	a := startCluster(t, "A")

	// Before DR is enabled, every handshake fails, certificate or not.
	if code, err := clusterPost(a.srv.Cluster, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}); err == nil {
		t.Fatalf("cluster port answered %d before DR was enabled", code)
	}

	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/enable", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	// Admit secondary "x" and take its bundle the way a secondary would.
	token := a.secondaryToken(a.root, "x", nil)
	sec, err := a.client(token).Logical().Unwrap("")
	if err != nil || sec == nil {
		t.Fatalf("unwrap: %v", err)
	}
	raw, _ := json.Marshal(sec.Data)
	var bundle drcrypto.Bundle
	if err := json.Unmarshal(raw, &bundle); err != nil || bundle.ClientCert == "" {
		t.Fatalf("bundle: %v %+v", err, sec.Data)
	}
	good, err := drcrypto.ClientTLSConfig([]byte(bundle.ClientCert), []byte(bundle.ClientKey), []byte(bundle.CACert))
	if err != nil {
		t.Fatal(err)
	}
	if code, err := clusterPost(a.srv.Cluster, good); err != nil || code != http.StatusOK {
		t.Fatalf("admitted secondary's certificate: %d %v", code, err)
	}

	// No client certificate.
	noCert := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: good.RootCAs, ServerName: drcrypto.ServerName}
	if code, err := clusterPost(a.srv.Cluster, noCert); err == nil {
		t.Fatalf("no client certificate: answered %d", code)
	}

	// A certificate for the same id from another CA.
	other, err := drcrypto.NewCA("another-dr-set", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, _, err := other.IssueClient("x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	otherCA := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: good.RootCAs, ServerName: drcrypto.ServerName,
		// Send the foreign certificate even though the server asks for its own CA.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }}
	if code, err := clusterPost(a.srv.Cluster, otherCA); err == nil {
		t.Fatalf("certificate from another CA: answered %d", code)
	}

	// TLS 1.2 is refused.
	old := good.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if code, err := clusterPost(a.srv.Cluster, old); err == nil {
		t.Fatalf("TLS 1.2: answered %d", code)
	}

	// Once revoked, the same certificate is refused.
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/revoke-secondary", map[string]any{"id": "x"}); err != nil {
		t.Fatal(err)
	}
	if code, err := clusterPost(a.srv.Cluster, good); err == nil {
		t.Fatalf("revoked secondary's certificate: answered %d", code)
	}
}
