package replication

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Wire protocol on the cluster port (HTTP/1.1 over mutual TLS 1.3):
//
//	POST /dr/stream       {last_wal, last_epoch, force_sync, api_addr}
//	                      → NDJSON frames: start, then wal / heartbeat / resync
//	POST /dr/heartbeat    {time, echo, echo_recv, last_wal, api_addr} → {last_wal, recv_at, sent_at}
//	POST /dr/sync/start   → {last_wal, last_epoch, pages[]}
//	POST /dr/sync/buckets {pages[]} → {hashes{bucket: hex}}
//	POST /dr/sync/fetch   {buckets[]} → the buckets' rows (binary, syncwire.go)
//	POST /dr/sync/range   {after} → the rows after a key (binary, syncwire.go)
//
// The secondary is the one identified by its client certificate.

const (
	pageSize      = 64 // buckets per merkle page
	numPages      = storage.NumBuckets / pageSize
	walFrameLimit = 512 // entries per WAL frame (see also walFrameBytes)
	fetchChunk    = 256 // buckets per fetch request (see also fetchBytes)
)

type streamRequest struct {
	LastWAL   uint64 `json:"last_wal"`
	LastEpoch uint64 `json:"last_epoch"`
	ForceSync bool   `json:"force_sync"`
	APIAddr   string `json:"api_addr"`
	// ClusterAddr is the secondary's own cluster address (an extension):
	// a performance primary advertises its DR secondaries' to its
	// performance secondaries (following.go).
	ClusterAddr string `json:"cluster_addr,omitempty"`
	// BinaryWAL asks for WAL frames as binary records (walframe.go).
	BinaryWAL bool `json:"binary_wal,omitempty"`
}

// frame is one message of the stream.
type frame struct {
	Type    string             `json:"type"` // start, wal, heartbeat, resync
	Mode    string             `json:"mode,omitempty"`
	LastWAL uint64             `json:"last_wal,omitempty"`
	Root    string             `json:"root,omitempty"`
	SentAt  int64              `json:"sent_at,omitempty"`
	Reason  string             `json:"reason,omitempty"`
	Entries []storage.WALEntry `json:"entries,omitempty"`
	// LastWALTime (start, heartbeat) is the commit time of LastWAL, Unix
	// ns: an extension older secondaries ignore.
	LastWALTime int64 `json:"last_wal_time,omitempty"`
	// ClusterAddrs, in a start frame of an HA primary, lists the cluster
	// addresses of its nodes, for the secondary to try when the active
	// node goes away (ha.go).
	ClusterAddrs []string `json:"cluster_addrs,omitempty"`
	// PrimaryClusterAddr and PrimaryAPIAddr, in a performance primary's
	// start frame, are the addresses it advertises now (an extension): a
	// secondary that followed the set's primary to another cluster (a
	// promoted DR secondary: following.go) records them.
	PrimaryClusterAddr string `json:"primary_cluster_addr,omitempty"`
	PrimaryAPIAddr     string `json:"primary_api_addr,omitempty"`
	// BinaryWAL, in a start frame, grants the secondary's request: the WAL
	// frames after it are binary records (walframe.go).
	BinaryWAL bool `json:"binary_wal,omitempty"`
}

type heartbeatRequest struct {
	Time int64 `json:"time"` // secondary's clock when it sent this, Unix ns
	// Echo is the SentAt of the primary heartbeat frame this answers (0 for
	// a heartbeat of the secondary's own timer) and EchoRecv when the
	// secondary received that frame (its clock): see heartbeat.go.
	Echo     int64  `json:"echo"`
	EchoRecv int64  `json:"echo_recv,omitempty"`
	LastWAL  uint64 `json:"last_wal"`
	APIAddr  string `json:"api_addr"`
	// ClusterAddr is as in streamRequest.
	ClusterAddr string `json:"cluster_addr,omitempty"`
	// Discards are what this secondary discarded as a re-pointed old
	// primary (an extension; see failover.go).
	Discards []DiscardRecord `json:"discards,omitempty"`
}

// primaryRuntime is what a primary tracks about connected secondaries.
type primaryRuntime struct {
	tls  *tls.Config
	mu   sync.Mutex
	live map[string]*liveSecondary
	next int
}

type liveSecondary struct {
	streams       map[int]context.CancelFunc
	remoteAddr    string
	apiAddr       string
	lastHeartbeat time.Time
	rtt           time.Duration
	skew          time.Duration
	applied       uint64
	appliedAt     time.Time
}

func (p *primaryRuntime) get(id string) *liveSecondary {
	ls := p.live[id]
	if ls == nil {
		ls = &liveSecondary{streams: map[int]context.CancelFunc{}}
		p.live[id] = ls
	}
	return ls
}

// disconnect closes every stream of a secondary.
func (p *primaryRuntime) disconnect(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ls := p.live[id]; ls != nil {
		for _, cancel := range ls.streams {
			cancel()
		}
		delete(p.live, id)
	}
}

func (p *primaryRuntime) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, ls := range p.live {
		for _, cancel := range ls.streams {
			cancel()
		}
		delete(p.live, id)
	}
}

// startPrimaryLocked prepares the cluster port's TLS for st. Callers hold mu.
func (m *Manager) startPrimaryLocked(st *state) error {
	cfg, err := drcrypto.ServerTLSConfig([]byte(st.ServerCert), []byte(st.ServerKey), []byte(st.CACert), m.admit)
	if err != nil {
		return fmt.Errorf("cluster port TLS: %w", err)
	}
	m.primary = &primaryRuntime{tls: cfg, live: map[string]*liveSecondary{}}
	return nil
}

func (m *Manager) stopPrimaryLocked() {
	if m.primary != nil {
		m.primary.closeAll()
		m.primary = nil
	}
}

// errNotAdmitted refuses a certificate at the handshake.
var errNotAdmitted = errors.New("secondary is not admitted to this DR set (revoked, unknown or superseded certificate)")

// admit is the handshake's check of a secondary's certificate: its id must
// be a live secondary and the certificate the one issued with its token.
func (m *Manager) admit(id, fingerprint string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.Mode != ModePrimary {
		return errors.New("this cluster is not a DR primary")
	}
	rec := m.st.Secondaries[id]
	if rec == nil || rec.Fingerprint != fingerprint {
		return errNotAdmitted
	}
	return nil
}

// ClusterTLSConfig is the cluster listener's TLS: every handshake fails
// unless this cluster is a DR primary, and then only admitted secondaries
// get through.
func (m *Manager) ClusterTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if peer := m.peerFor(hello); peer != nil {
				return peer.performanceTLS()
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.primary == nil {
				return nil, errors.New("DR replication is not enabled as a primary on this cluster")
			}
			return m.primary.tls, nil
		},
	}
}

func (m *Manager) clusterMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dr/stream", m.peer(m.serveStream))
	mux.HandleFunc("POST /dr/heartbeat", m.peer(m.serveHeartbeat))
	mux.HandleFunc("POST /dr/sync/start", m.peer(m.serveSyncStart))
	mux.HandleFunc("POST /dr/sync/buckets", m.peer(m.serveSyncBuckets))
	mux.HandleFunc("POST /dr/sync/fetch", m.peer(m.serveSyncFetch))
	mux.HandleFunc("POST /dr/sync/range", m.peer(m.serveSyncRange))
	mux.HandleFunc("POST /dr/carried", m.peer(m.serveCarried))
	return mux
}

// peer checks, on every request, that the caller is still admitted: a
// revoked secondary's open connection is refused too.
func (m *Manager) peer(h func(w http.ResponseWriter, r *http.Request, id string, rt *primaryRuntime)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "client certificate required", http.StatusUnauthorized)
			return
		}
		leaf := r.TLS.PeerCertificates[0]
		id := leaf.Subject.CommonName
		if err := m.admit(id, drcrypto.Fingerprint(leaf)); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		m.mu.Lock()
		rt := m.primary
		m.mu.Unlock()
		if rt == nil {
			http.Error(w, "not a DR primary", http.StatusServiceUnavailable)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		h(w, r, id, rt)
	}
}

// streamMode decides whether a secondary at (lastWAL, lastEpoch) can be
// streamed WAL entries or must merkle-sync first.
func (m *Manager) streamMode(ctx context.Context, req streamRequest) (string, string, error) {
	pos := m.store.Position()
	switch {
	case req.ForceSync:
		return "sync", "the secondary asked for a merkle sync", nil
	case req.LastWAL == 0 && pos.LastWAL > 0:
		return "sync", "new secondary", nil
	case req.LastWAL > pos.LastWAL:
		return "sync", fmt.Sprintf("secondary is at WAL %d, beyond this primary's %d", req.LastWAL, pos.LastWAL), nil
	case req.LastWAL == pos.LastWAL:
		if req.LastWAL == 0 || req.LastEpoch == pos.LastEpoch {
			return "stream", "", nil
		}
		return "sync", "secondary's history diverged at its last entry", nil
	}
	epoch, ok, err := m.store.WALEpochAt(ctx, req.LastWAL)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "sync", fmt.Sprintf("WAL %d is no longer retained", req.LastWAL), nil
	}
	if epoch != req.LastEpoch {
		return "sync", fmt.Sprintf("secondary's entry %d is not in this primary's history", req.LastWAL), nil
	}
	return "stream", "", nil
}

func (m *Manager) serveStream(w http.ResponseWriter, r *http.Request, id string, rt *primaryRuntime) {
	var req streamRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad stream request: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	mode, reason, err := m.streamMode(ctx, req)
	if err != nil {
		m.log.Error("decide stream mode", "secondary_id", id, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	rc := http.NewResponseController(w)
	// The request is read: a read timeout on the cluster listener must not
	// end a stream that lives for hours.
	_ = rc.SetReadDeadline(time.Time{})
	pw := &progressWriter{w: w, rc: rc, sent: &m.metrics.bytesSent}
	defer pw.done()
	enc := json.NewEncoder(pw)
	w.Header().Set("Content-Type", "application/x-ndjson")
	send := func(f frame) error {
		if err := enc.Encode(f); err != nil {
			return err
		}
		return pw.flush()
	}
	writeWAL := writeWALFrame
	if req.BinaryWAL {
		writeWAL = writeWALRecord
	}
	sendWAL := func(entries []storage.WALEntry) error {
		if err := writeWAL(pw, entries); err != nil {
			return err
		}
		return pw.flush()
	}
	pos := m.store.Position()
	advertised := m.advertisedAddrs(ctx)
	start := frame{Type: "start", Mode: mode, LastWAL: pos.LastWAL, Root: m.viewRoot(ctx, id, pos), Reason: reason,
		LastWALTime: m.lastWALTime(ctx, pos.LastWAL), ClusterAddrs: advertised, BinaryWAL: req.BinaryWAL}
	if m.kind == KindPerformance {
		start.PrimaryClusterAddr, start.PrimaryAPIAddr = m.snapshot().PrimaryClusterAddr, m.opts.APIAddr
	}
	if err := send(start); err != nil || mode != "stream" {
		if mode == "sync" {
			m.log.Info("secondary needs a merkle sync", "secondary_id", id, "reason", reason)
		}
		return
	}

	rt.mu.Lock()
	ls := rt.get(id)
	rt.next++
	streamID := rt.next
	ls.streams[streamID] = cancel
	ls.remoteAddr = r.RemoteAddr
	if req.APIAddr != "" {
		ls.apiAddr = req.APIAddr
	}
	ls.applied, ls.appliedAt = req.LastWAL, time.Now()
	rt.mu.Unlock()
	defer func() {
		rt.mu.Lock()
		delete(ls.streams, streamID)
		rt.mu.Unlock()
	}()
	m.log.Info("secondary connected", "secondary_id", id, "from_wal", req.LastWAL, "remote", r.RemoteAddr)
	m.recordSecondaryAddr(ctx, id, req.ClusterAddr)

	from := req.LastWAL
	sendHeartbeat := func() error {
		p := m.store.Position()
		hb := frame{Type: "heartbeat", LastWAL: p.LastWAL, Root: m.viewRoot(ctx, id, p), LastWALTime: m.lastWALTime(ctx, p.LastWAL)}
		// Addresses to follow travel again only when they changed.
		if m.kind == KindPerformance {
			if now := m.advertisedAddrs(ctx); !slices.Equal(now, advertised) {
				advertised, hb.ClusterAddrs = now, now
			}
		}
		hb.SentAt = m.now().UnixNano()
		return send(hb)
	}
	heartbeat := time.NewTicker(m.opts.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		changed := m.store.Notify()
		entries, err := m.store.WALSinceBytes(ctx, from, walFrameLimit, walFrameBytes)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Error("read WAL for secondary", "secondary_id", id, "error", err)
			}
			return
		}
		if len(entries) > 0 {
			if entries[0].Index != from+1 {
				_ = send(frame{Type: "resync", Reason: fmt.Sprintf("WAL entries after %d are no longer retained", from)})
				return
			}
			excluded, err := m.excludedFor(ctx, id)
			if err != nil {
				m.log.Warn("secondary stream ended", "secondary_id", id, "error", err)
				return
			}
			if err := sendWAL(outgoing(entries, excluded)); err != nil {
				m.log.Info("secondary stream ended", "secondary_id", id, "error", err)
				return
			}
			from = entries[len(entries)-1].Index
			m.metrics.walEntriesSent.Add(uint64(len(entries)))
			// A stream that always has entries to send never reaches the
			// select below: heartbeats (and so the secondary's echoes, the
			// round trip and the skew) must not stop while writes flow.
			select {
			case <-heartbeat.C:
				if err := sendHeartbeat(); err != nil {
					m.log.Info("secondary stream ended", "secondary_id", id, "error", err)
					return
				}
			default:
			}
			continue
		}
		select {
		case <-ctx.Done():
			m.log.Info("secondary stream closed", "secondary_id", id)
			return
		case <-changed:
		case <-heartbeat.C:
			if err := sendHeartbeat(); err != nil {
				m.log.Info("secondary stream ended", "secondary_id", id, "error", err)
				return
			}
		}
	}
}

func (m *Manager) serveHeartbeat(w http.ResponseWriter, r *http.Request, id string, rt *primaryRuntime) {
	var hb heartbeatRequest
	if err := json.NewDecoder(r.Body).Decode(&hb); err != nil {
		http.Error(w, "bad heartbeat: "+err.Error(), http.StatusBadRequest)
		return
	}
	now, stamp := time.Now(), m.now().UnixNano()
	rt.mu.Lock()
	ls := rt.get(id)
	ls.lastHeartbeat = now
	if hb.Echo > 0 && hb.EchoRecv > 0 && hb.Time > 0 {
		// An echo of one of our frames: the round trip on the stream that
		// carried it and back, without the time the secondary held it.
		ls.rtt, ls.skew = roundTrip(hb.Echo, hb.EchoRecv, hb.Time, stamp)
	}
	ls.applied, ls.appliedAt = hb.LastWAL, now
	if hb.APIAddr != "" {
		ls.apiAddr = hb.APIAddr
	}
	if ls.remoteAddr == "" {
		ls.remoteAddr = r.RemoteAddr
	}
	rt.mu.Unlock()
	// The answer tells the secondary how far this primary is, even while
	// the stream is busy with a large frame and its heartbeats wait.
	m.mergeDiscards(r.Context(), id, hb.Discards)
	m.recordSecondaryAddr(r.Context(), id, hb.ClusterAddr)
	last := m.store.LastWAL()
	ans := heartbeatAnswer{LastWAL: last, LastWALTime: m.lastWALTime(r.Context(), last), RecvAt: stamp}
	if m.kind == KindDR {
		ans.CarriedDigest = m.carriedDigestNow(r.Context(), false)
	}
	ans.SentAt = m.now().UnixNano()
	writeJSON(w, ans)
}

// heartbeatAnswer is the primary's answer to a heartbeat. RecvAt and SentAt
// (the primary's clock, Unix ns) give the secondary its round trip and
// clock skew (heartbeat.go).
type heartbeatAnswer struct {
	LastWAL     uint64 `json:"last_wal"`
	LastWALTime int64  `json:"last_wal_time,omitempty"` // extension: commit time of LastWAL, Unix ns
	RecvAt      int64  `json:"recv_at,omitempty"`
	SentAt      int64  `json:"sent_at,omitempty"`
	// CarriedDigest (DR only, an extension) names the local keys a DR
	// secondary copies besides the WAL (carried.go).
	CarriedDigest string `json:"carried_digest,omitempty"`
}

// pageHashes folds the bucket hashes into pages, the first level of the
// merkle comparison.
func pageHashes(buckets [][]byte) []string {
	pages := make([]string, numPages)
	for p := range numPages {
		h := newHasher()
		for b := p * pageSize; b < (p+1)*pageSize; b++ {
			h.Write(buckets[b])
		}
		pages[p] = hex.EncodeToString(h.Sum(nil))
	}
	return pages
}

type syncStart struct {
	LastWAL   uint64   `json:"last_wal"`
	LastEpoch uint64   `json:"last_epoch"`
	Pages     []string `json:"pages"`
	// Forks are this primary's failover fork points (an extension): a
	// re-pointed old primary counts what it discards from them.
	Forks []fork `json:"forks,omitempty"`
	// Ranges says this primary serves /dr/sync/range.
	Ranges bool `json:"ranges,omitempty"`
}

func (m *Manager) serveSyncStart(w http.ResponseWriter, r *http.Request, id string, _ *primaryRuntime) {
	// The position is read before the buckets, so the buckets are at least
	// as new as it: replaying the WAL from here repairs the rest.
	pos := m.store.Position()
	buckets, err := m.bucketHashesFor(r.Context(), id)
	if err != nil {
		m.log.Error("merkle buckets for secondary", "secondary_id", id, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeJSON(w, syncStart{LastWAL: pos.LastWAL, LastEpoch: pos.LastEpoch, Pages: pageHashes(buckets), Forks: m.forks(r.Context()),
		Ranges: m.store.CanCopyRanges()})
}

func (m *Manager) serveSyncBuckets(w http.ResponseWriter, r *http.Request, id string, _ *primaryRuntime) {
	var req struct {
		Pages []int `json:"pages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	buckets, err := m.bucketHashesFor(r.Context(), id)
	if err != nil {
		m.log.Error("merkle buckets for secondary", "secondary_id", id, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	out := map[int]string{}
	for _, p := range req.Pages {
		if p < 0 || p >= numPages {
			http.Error(w, fmt.Sprintf("no page %d", p), http.StatusBadRequest)
			return
		}
		for b := p * pageSize; b < (p+1)*pageSize; b++ {
			out[b] = hex.EncodeToString(buckets[b])
		}
	}
	writeJSON(w, map[string]any{"hashes": out})
}

func (m *Manager) serveSyncFetch(w http.ResponseWriter, r *http.Request, id string, _ *primaryRuntime) {
	var req struct {
		Buckets []int `json:"buckets"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Buckets) > fetchChunk {
		http.Error(w, fmt.Sprintf("bad request: want at most %d buckets", fetchChunk), http.StatusBadRequest)
		return
	}
	for _, b := range req.Buckets {
		if b < 0 || b >= storage.NumBuckets {
			http.Error(w, fmt.Sprintf("no bucket %d", b), http.StatusBadRequest)
			return
		}
	}
	pw := &progressWriter{w: w, rc: http.NewResponseController(w), sent: &m.metrics.bytesSent}
	defer pw.done()
	w.Header().Set("Content-Type", fetchContentType)
	bw := bufio.NewWriterSize(pw, writeChunk)
	err := m.streamBuckets(r.Context(), id, req.Buckets, func(b int, kvs []storage.KV) error {
		return writeBucketRecord(bw, b, kvs)
	})
	if err != nil {
		// Once bytes went out the status is sent: without the end marker
		// the secondary sees a broken answer and syncs again.
		m.log.Error("read buckets for merkle sync", "error", err)
		if pw.written == 0 {
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
		return
	}
	_ = writeBucketEnd(bw)
}

// serveSyncRange answers the rows after a key, in key order, up to
// rangeBytes (a merkle sync that copies the whole keyspace).
func (m *Manager) serveSyncRange(w http.ResponseWriter, r *http.Request, id string, _ *primaryRuntime) {
	var req rangeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	excluded, err := m.excludedFor(r.Context(), id)
	var kvs []storage.KV
	var done bool
	if err == nil {
		var keep func(string) bool
		if excluded != nil {
			keep = func(key string) bool { return !excluded(key) }
		}
		kvs, done, err = m.store.KVsAfter(r.Context(), req.After, rangeBytes, keep)
	}
	if err != nil {
		m.log.Error("read key range for merkle sync", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pw := &progressWriter{w: w, rc: http.NewResponseController(w), sent: &m.metrics.bytesSent}
	defer pw.done()
	w.Header().Set("Content-Type", fetchContentType)
	_ = writeRangeAnswer(bufio.NewWriterSize(pw, writeChunk), kvs, done)
}

// fetchAnswer holds the entries of the first Covered requested buckets
// (an empty bucket as an empty list).
type fetchAnswer struct {
	Entries map[int][]storage.KV
	Covered int
}

// fetchBuckets is what one fetch answers for buckets, in memory.
func (m *Manager) fetchBuckets(ctx context.Context, id string, buckets []int) (fetchAnswer, error) {
	ans := fetchAnswer{Entries: make(map[int][]storage.KV, len(buckets))}
	err := m.streamBuckets(ctx, id, buckets, func(b int, kvs []storage.KV) error {
		ans.Entries[b] = kvs
		ans.Covered++
		return nil
	})
	return ans, err
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// dialAddress turns a cluster address (host:port or https://host:port)
// into host:port.
func dialAddress(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return "", err
		}
		if u.Scheme != "https" && u.Scheme != "tcp" {
			return "", fmt.Errorf("scheme %q (want https)", u.Scheme)
		}
		addr = u.Host
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if host == "" || port == "" {
		return "", errors.New("missing host or port")
	}
	return addr, nil
}
