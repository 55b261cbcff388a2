package ha

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// forwardedHeader marks a request a standby forwarded: the receiver answers
// it itself or refuses it, so two nodes that disagree for a moment about
// who is active never bounce a request between them.
const forwardedHeader = "X-Vaultrepl-Forwarded"

// localPaths are answered by every node itself, as Vault does: a node's
// own health, seal state and view of the leader.
var localPaths = map[string]bool{
	"/v1/sys/health":      true,
	"/v1/sys/leader":      true,
	"/v1/sys/seal-status": true,
	"/v1/sys/unseal":      true,
	"/v1/sys/seal":        true,
}

// Forwarder serves requests on the active node and forwards them from a
// standby to the active node's API address (an HTTP reverse proxy; HTTPS
// when the active node advertises https, verified against the system roots,
// which SSL_CERT_FILE extends with a private CA).
type Forwarder struct {
	e     *Elector
	local http.Handler
	// mayForward reports whether a standby forwards at all: a sealed
	// standby answers "sealed" itself, as in Vault.
	mayForward func(ctx context.Context) bool
	transport  http.RoundTripper
}

// NewForwarder wraps the node's own API handler.
func NewForwarder(e *Elector, local http.Handler, mayForward func(ctx context.Context) bool) *Forwarder {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
	}
	return &Forwarder{e: e, local: local, mayForward: mayForward, transport: tr}
}

func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.e.Active() || localPaths[r.URL.Path] || !f.mayForward(r.Context()) {
		f.local.ServeHTTP(w, r)
		return
	}
	if r.Header.Get(forwardedHeader) != "" {
		writeError(w, http.StatusServiceUnavailable, "this node is a standby and the request was already forwarded once; retry")
		return
	}
	leader, ok, err := f.e.Leader(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot read the HA lock to find the active node; retry")
		return
	}
	if !ok || leader.Holder == f.e.ID() {
		writeError(w, http.StatusServiceUnavailable, "no active node in this HA cluster yet; retry")
		return
	}
	target, err := url.Parse(leader.APIAddr)
	if err != nil || target.Host == "" {
		writeError(w, http.StatusServiceUnavailable, "the active node advertises an unusable api_addr")
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set(forwardedHeader, f.e.ID())
		},
		Transport: f.transport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				// Nothing reached the active node: a client may retry
				// knowing the request had no effect.
				writeError(w, http.StatusServiceUnavailable, "the active node could not be reached; the request was not forwarded, retry")
				return
			}
			writeError(w, http.StatusServiceUnavailable, "the active node did not answer the forwarded request; its outcome is unknown")
		},
	}
	proxy.ServeHTTP(w, r)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
}
