package replication

import (
	"crypto/tls"
	"errors"
	"net/http"
	"slices"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
)

// alpnPerformance is the ALPN protocol a performance secondary offers on
// the cluster port. A cluster has one cluster port for both families, as in
// Vault, which also tells its replication streams apart by ALPN; DR
// secondaries offer none, so every existing DR secondary keeps working.
// The server picks the family's TLS configuration (CA, certificate) by the
// offer but agrees no protocol (net/http closes a connection whose agreed
// protocol it has no handler for); the handler then tells the families
// apart by the client certificate, which only one family admits.
const alpnPerformance = "vaultrepl-performance-v1"

// SetPeer links the DR Manager m with the performance Manager of the same
// cluster: m's cluster port serves perf's secondaries too, and m's WAL
// retention keeps what they still need. Call it once, on the DR Manager.
func (m *Manager) SetPeer(perf *Manager) {
	m.perfPeer.Store(perf)
	perf.drPeer.Store(m)
}

// peerFor is the performance Manager when the client hello asks for it.
func (m *Manager) peerFor(hello *tls.ClientHelloInfo) *Manager {
	peer := m.perfPeer.Load()
	if peer == nil || !slices.Contains(hello.SupportedProtos, alpnPerformance) {
		return nil
	}
	return peer
}

// performanceTLS is the cluster port's TLS for a performance secondary:
// this performance set's CA and certificates.
func (m *Manager) performanceTLS() (*tls.Config, error) {
	if m.dormant() {
		return nil, errDormant
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.primary == nil {
		return nil, errors.New("performance replication is not enabled as a primary on this cluster")
	}
	return m.primary.tls, nil
}

// clusterPortHandler sends each request to the family whose secondary the
// client certificate belongs to; anything else goes to DR, which refuses
// what it did not admit.
func (m *Manager) clusterPortHandler() http.Handler {
	dr := m.clusterMux()
	peer := m.perfPeer.Load()
	if peer == nil {
		return dr
	}
	perfMux := http.NewServeMux()
	perfMux.Handle("/", peer.clusterMux())
	perfMux.HandleFunc("POST /performance/forward", peer.peer(peer.serveForward))
	perf := http.Handler(perfMux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			leaf := r.TLS.PeerCertificates[0]
			if peer.admit(leaf.Subject.CommonName, drcrypto.Fingerprint(leaf)) == nil {
				perf.ServeHTTP(w, r)
				return
			}
		}
		dr.ServeHTTP(w, r)
	})
}

// clientProtocols is what this Manager's secondary offers in its handshake.
func (m *Manager) clientProtocols() []string {
	if m.kind == KindPerformance {
		return []string{alpnPerformance}
	}
	return nil
}
