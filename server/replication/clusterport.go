package replication

import (
	"crypto/tls"
	"errors"
	"net/http"
	"slices"
)

// alpnPerformance is the ALPN protocol a performance secondary offers on
// the cluster port. A cluster has one cluster port for both families, as in
// Vault, which also tells its replication streams apart by ALPN; DR
// secondaries offer none, so every existing DR secondary keeps working.
const alpnPerformance = "vaultrepl-performance-v1"

// SetPeer links the DR Manager m with the performance Manager of the same
// cluster: m's cluster port serves perf's secondaries too, and m's WAL
// retention keeps what they still need. Call it once, on the DR Manager.
func (m *Manager) SetPeer(perf *Manager) { m.perfPeer.Store(perf) }

// peerFor is the performance Manager when the client hello asks for it.
func (m *Manager) peerFor(hello *tls.ClientHelloInfo) *Manager {
	peer := m.perfPeer.Load()
	if peer == nil || !slices.Contains(hello.SupportedProtos, alpnPerformance) {
		return nil
	}
	return peer
}

// performanceTLS is the cluster port's TLS for a performance secondary:
// this performance set's CA and certificates, with the ALPN protocol agreed
// so that the handler knows which family a request belongs to.
func (m *Manager) performanceTLS() (*tls.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.primary == nil {
		return nil, errors.New("performance replication is not enabled as a primary on this cluster")
	}
	cfg := m.primary.tls.Clone()
	cfg.NextProtos = []string{alpnPerformance}
	return cfg, nil
}

// clusterPortHandler sends each request to the family its connection
// agreed on in the handshake.
func (m *Manager) clusterPortHandler() http.Handler {
	dr := m.clusterMux()
	var perf http.Handler
	if peer := m.perfPeer.Load(); peer != nil {
		perf = peer.clusterMux()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && r.TLS.NegotiatedProtocol == alpnPerformance && perf != nil {
			perf.ServeHTTP(w, r)
			return
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
