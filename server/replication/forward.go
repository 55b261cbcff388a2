package replication

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
)

// Forwarding: a performance secondary authorises a write to replicated
// data with its own token and ACL, then hands it to its primary over the
// cluster port (mutual TLS, the secondary's certificate); the primary runs
// it as a request already authorised and answers with its response and the
// WAL index the write reached, which the client may send back as
// X-Vault-Index to read its own write on the secondary.

// forwardTimeout bounds one forwarded request, connection included.
const forwardTimeout = 30 * time.Second

// forwardIdleConns is how many idle connections to the primary a secondary
// keeps for forwarding. Each forwarded write holds one connection while it
// waits for the primary's commit, so concurrent writers need as many; a
// connection not kept costs a new mutual-TLS handshake on both sides (with
// 4 kept, 16 writers ran at 0.08x the primary's rate, its CPU going to
// handshakes).
const forwardIdleConns = 64

// maxForwardResponse bounds what a primary's answer may hold.
const maxForwardResponse = 32 << 20

// ForwardRequest is a request as the secondary received and authorised it.
type ForwardRequest struct {
	Method string          `json:"method"`
	Path   string          `json:"path"` // with the leading /v1/
	Query  string          `json:"query,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// ForwardResponse is the primary's answer to a forwarded request.
type ForwardResponse struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body,omitempty"`
	// Index is the X-Vault-Index of the primary after the request.
	Index string `json:"index"`
}

type forwardedKey struct{}

// ForwardedFrom says whether ctx is a request a performance secondary
// forwarded (and authorised), and which one.
func ForwardedFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(forwardedKey{}).(string)
	return id, ok
}

// SetForwardHandler is the API that runs forwarded requests on a primary.
func (m *Manager) SetForwardHandler(h http.Handler) { m.forwardTo.Store(&h) }

// forwardClient is the secondary's cluster-port client for forwarding,
// rebuilt when its activation material changes.
type forwardClient struct {
	mu     sync.Mutex
	cert   string
	client *http.Client
}

func (m *Manager) forwardClientFor(st *state) (*http.Client, error) {
	m.fwd.mu.Lock()
	defer m.fwd.mu.Unlock()
	if m.fwd.client != nil && m.fwd.cert == st.ClientCert {
		return m.fwd.client, nil
	}
	tlsCfg, err := drcrypto.ClientTLSConfig([]byte(st.ClientCert), []byte(st.ClientKey), []byte(st.PrimaryCACert))
	if err != nil {
		return nil, fmt.Errorf("forwarding client: %w", err)
	}
	tlsCfg.NextProtos = m.clientProtocols()
	m.fwd.cert = st.ClientCert
	m.fwd.client = &http.Client{Timeout: forwardTimeout, Transport: &http.Transport{
		TLSClientConfig:     tlsCfg,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConns:        forwardIdleConns,
		MaxIdleConnsPerHost: forwardIdleConns,
		IdleConnTimeout:     90 * time.Second,
	}}
	return m.fwd.client, nil
}

// Forward sends req to this performance secondary's primary.
func (m *Manager) Forward(ctx context.Context, req ForwardRequest) (*ForwardResponse, error) {
	st := m.snapshot()
	if m.kind != KindPerformance || !st.hasPrimary() {
		return nil, apierr.Unavailable("this performance secondary has no primary to forward the write to: point it at one with sys/replication/performance/secondary/update-primary")
	}
	client, err := m.forwardClientFor(st)
	if err != nil {
		return nil, err
	}
	addr, err := dialAddress(st.PrimaryClusterAddr)
	if err != nil {
		return nil, err
	}
	// The stream may have followed the set's primary to another address
	// (a known primary cluster address: following.go); writes go there.
	m.mu.Lock()
	if rt := m.secondary; rt != nil {
		if a := rt.streamingAddr(); a != "" {
			addr = a
		}
	}
	m.mu.Unlock()
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode forwarded request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+"/performance/forward", bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("forwarded request: %w", err)
	}
	resp, err := client.Do(hr)
	if err != nil {
		return nil, apierr.Unavailable("the performance primary at %s could not be reached to forward this write (%v); retry, or write to the primary", addr, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardResponse))
	if err != nil {
		return nil, apierr.Unavailable("the performance primary's answer to a forwarded write was cut off: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		m.log.Warn("forwarded write refused by the primary's cluster port", "status", resp.StatusCode, "answer", strings.TrimSpace(string(body)))
		return nil, apierr.Unavailable("the performance primary refused to run a forwarded write (HTTP %d on its cluster port): is this secondary still admitted?", resp.StatusCode)
	}
	var out ForwardResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("decode the primary's forwarded answer: %w", err)
	}
	return &out, nil
}

// serveForward runs a forwarded request on the primary.
func (m *Manager) serveForward(w http.ResponseWriter, r *http.Request, id string, _ *primaryRuntime) {
	var req ForwardRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !strings.HasPrefix(req.Path, "/v1/") {
		http.Error(w, "bad forwarded request", http.StatusBadRequest)
		return
	}
	h := m.forwardTo.Load()
	if h == nil {
		http.Error(w, "this primary does not run forwarded requests", http.StatusServiceUnavailable)
		return
	}
	excluded, err := m.forwardExcluded(r.Context(), id, strings.TrimPrefix(req.Path, "/v1/"))
	if err != nil {
		m.log.Warn("forwarded request refused", "secondary_id", id, "error", err)
		http.Error(w, "cannot check the forwarded request against the secondary's view", http.StatusServiceUnavailable)
		return
	}
	if excluded {
		// The secondary has no such mount (it is local here, or its paths
		// filter leaves it out): answer as it would, without the data.
		body, _ := json.Marshal(map[string][]string{"errors": {fmt.Sprintf("no handler for route %q. route entry not found.", strings.TrimPrefix(req.Path, "/v1/"))}})
		writeJSON(w, ForwardResponse{Status: http.StatusNotFound, ContentType: "application/json", Body: body, Index: m.IndexHeader()})
		return
	}
	ctx := context.WithValue(r.Context(), forwardedKey{}, id)
	target := req.Path
	if req.Query != "" {
		target += "?" + req.Query
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, target, bytes.NewReader(req.Body))
	if err != nil {
		http.Error(w, "bad forwarded request", http.StatusBadRequest)
		return
	}
	hr.Header.Set("Content-Type", "application/json")
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	(*h).ServeHTTP(rec, hr)
	writeJSON(w, ForwardResponse{
		Status:      rec.status,
		ContentType: rec.header.Get("Content-Type"),
		Body:        rec.body.Bytes(),
		Index:       m.IndexHeader(),
	})
}

// forwardExcluded says whether path lies in a mount secondary id does not
// receive (a local mount of this cluster, or one its paths filter leaves
// out): a request forwarded there, read or write, must not reach the data.
func (m *Manager) forwardExcluded(ctx context.Context, id, path string) (bool, error) {
	if m.opts.Mounts == nil {
		return false, nil
	}
	table, err := m.opts.Mounts(ctx)
	if err != nil {
		return false, fmt.Errorf("read the mount table: %w", err)
	}
	var best MountRef
	for _, mt := range table {
		if strings.HasPrefix(path+"/", mt.Path) && len(mt.Path) > len(best.Path) {
			best = mt
		}
	}
	return best.Path != "" && (best.Local || m.snapshot().PathsFilters[id].excludesMount(best.Path)), nil
}

// recorder keeps the API's answer to a forwarded request.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	if r.body.Len()+len(b) > maxForwardResponse {
		return 0, fmt.Errorf("forwarded answer larger than %d bytes", maxForwardResponse)
	}
	return r.body.Write(b)
}

// IndexHeader is this performance set's X-Vault-Index for the position now:
// opaque to clients (Vault's is too), it names the set and the WAL index.
func (m *Manager) IndexHeader() string {
	st := m.snapshot()
	v := "vr1:" + st.ClusterID + ":" + strconv.FormatUint(m.store.LastWAL(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(v))
}

// parseIndex reads an X-Vault-Index: 400 for a header this server did not
// issue, 412 for one of another performance set.
func (m *Manager) parseIndex(header string) (uint64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(header))
	parts := strings.Split(string(raw), ":")
	if err != nil || len(parts) != 3 || parts[0] != "vr1" {
		return 0, apierr.Invalid("X-Vault-Index is not an index this server issued")
	}
	want, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return 0, apierr.Invalid("X-Vault-Index is not an index this server issued")
	}
	if m.snapshot().ClusterID != parts[1] {
		return 0, apierr.PreconditionFailed("X-Vault-Index names another performance replication set; send the request to a cluster of that set")
	}
	return want, nil
}

// IndexApplied says whether this performance secondary has applied the
// position an X-Vault-Index names, without waiting (errors as WaitForIndex).
func (m *Manager) IndexApplied(header string) (bool, error) {
	want, err := m.parseIndex(header)
	if err != nil {
		return false, err
	}
	return m.store.LastWAL() >= want, nil
}

// WaitForIndex waits, at most limit, until this performance secondary has
// applied the position an X-Vault-Index names. It answers 400 for a header
// it cannot read and 412 when the position is of another set or is not
// reached in time.
func (m *Manager) WaitForIndex(ctx context.Context, header string, limit time.Duration) error {
	want, err := m.parseIndex(header)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		changed := m.store.Notify()
		if m.store.LastWAL() >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return apierr.PreconditionFailed("this performance secondary has not applied X-Vault-Index's position (WAL %d) within %s; retry, send the request to the primary, or add X-Vault-Inconsistent: forward-active-node to have it forwarded there", want, limit)
		case <-changed:
		case <-tick.C:
		}
	}
}
