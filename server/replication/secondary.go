package replication

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Secondary states as status reports them.
const (
	stateIdle       = "idle"
	stateConnecting = "connecting"
	stateMerkleDiff = "merkle-diff"
	stateMerkleSync = "merkle-sync"
	stateStreamWALs = "stream-wals"
)

const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
)

// secondaryRuntime follows one primary: one goroutine holds the stream,
// applies what arrives and reconnects with backoff.
type secondaryRuntime struct {
	cancel    context.CancelFunc
	done      chan struct{}
	restartCh chan struct{}

	mu          sync.Mutex
	state       string
	connState   string
	connected   bool
	primaryLast uint64
	primaryAt   time.Time
	caughtUpAt  time.Time // when this secondary last held all of primaryLast
	stream      *progressReader
	lastHB      time.Time
	rtt         time.Duration    // of the last heartbeat this secondary sent
	skew        time.Duration    // the primary's clock minus ours, from that heartbeat
	facts       lostPrimaryFacts // for the failover record (failover.go)
	addr        string           // host:port of the primary node streaming now
	// synced is set by the syncer goroutine alone when a merkle sync just
	// finished: the stream that follows reuses its connection.
	synced bool
}

// setAddr records the primary node the stream is open to (base is
// https://host:port): forwarded writes go there (forward.go).
func (rt *secondaryRuntime) setAddr(base string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.addr = strings.TrimPrefix(base, "https://")
}

// streamingAddr is the primary node of the open stream, "" before one.
func (rt *secondaryRuntime) streamingAddr() string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.addr
}

// sawPrimary records the primary's newest WAL index as a frame or a
// heartbeat answer told it. Frames can lag behind heartbeat answers, so
// the position only moves forward.
func (rt *secondaryRuntime) sawPrimary(last, applied uint64, now time.Time) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.primaryLast, rt.primaryAt = max(rt.primaryLast, last), now
	if applied >= rt.primaryLast {
		rt.caughtUpAt = now
	}
}

// applied records that entries up to applied are in storage.
func (rt *secondaryRuntime) applied(applied uint64, now time.Time) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if applied >= rt.primaryLast {
		rt.caughtUpAt = now
	}
}

// lag is how far this secondary is behind, as far as it knows: WAL entries
// and the time since it last held everything the primary had.
func (rt *secondaryRuntime) lag(applied uint64, now time.Time) (uint64, time.Duration) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.primaryAt.IsZero() || applied >= rt.primaryLast {
		return 0, 0
	}
	since := rt.caughtUpAt
	if since.IsZero() {
		since = rt.primaryAt
	}
	return rt.primaryLast - applied, now.Sub(since)
}

// stalledFor is how long the open stream has delivered no byte (0 without
// a stream).
func (rt *secondaryRuntime) stalledFor(now time.Time) time.Duration {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.stream == nil {
		return 0
	}
	return rt.stream.idleFor(now)
}

func (rt *secondaryRuntime) set(state, conn string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if state != "" {
		rt.state = state
	}
	if conn != "" {
		rt.connState = conn
	}
	rt.connected = conn == "ready"
}

func (rt *secondaryRuntime) primaryPosition() (uint64, time.Time) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.primaryLast, rt.primaryAt
}

// restart asks the syncer to drop its stream and reconnect at once.
func (rt *secondaryRuntime) restart() {
	select {
	case rt.restartCh <- struct{}{}:
	default:
	}
}

// startSecondaryLocked starts following st's primary. Callers hold mu and
// have stopped any previous syncer.
func (m *Manager) startSecondaryLocked(st *state) {
	ctx, cancel := context.WithCancel(m.stopCtx)
	rt := &secondaryRuntime{cancel: cancel, done: make(chan struct{}), restartCh: make(chan struct{}, 1), state: stateConnecting, connState: "connecting"}
	m.secondary = rt
	go func() {
		defer close(rt.done)
		m.follow(ctx, rt, st.clone())
	}()
}

// stopSecondary stops the syncer and waits for it. Callers must not hold
// mu: the syncer takes it.
func (m *Manager) stopSecondary() {
	m.mu.Lock()
	rt := m.secondary
	m.secondary = nil
	m.mu.Unlock()
	if rt != nil {
		rt.cancel()
		<-rt.done
	}
}

// follow is the syncer loop.
func (m *Manager) follow(ctx context.Context, rt *secondaryRuntime, st *state) {
	tlsCfg, err := drcrypto.ClientTLSConfig([]byte(st.ClientCert), []byte(st.ClientKey), []byte(st.PrimaryCACert))
	if err != nil {
		m.log.Error("cannot follow the primary: bad activation material", "error", err)
		rt.set(stateIdle, "transient_failure")
		return
	}
	tlsCfg.NextProtos = m.clientProtocols()
	addr, err := dialAddress(st.PrimaryClusterAddr)
	if err != nil {
		m.log.Error("cannot follow the primary: bad primary cluster address", "addr", st.PrimaryClusterAddr, "error", err)
		rt.set(stateIdle, "transient_failure")
		return
	}
	transport := &http.Transport{
		TLSClientConfig:       tlsCfg,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: peerResponseTimeout,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     false,
	}
	defer transport.CloseIdleConnections()
	c := &peerClient{http: &http.Client{Transport: transport}, base: "https://" + addr, idle: m.streamIdle(), metrics: m.metrics}
	attempt := 0

	backoff := backoffMin
	forceSync := false
	for ctx.Err() == nil {
		runCtx, cancelRun := context.WithCancel(ctx)
		go func() {
			select {
			case <-rt.restartCh:
				cancelRun()
			case <-runCtx.Done():
			}
		}()
		progressed, err := m.followOnce(runCtx, rt, c, st, &forceSync)
		cancelRun()
		if !rt.synced || err != nil {
			transport.CloseIdleConnections()
		}
		rt.synced = false
		if ctx.Err() != nil {
			break
		}
		if progressed {
			backoff = backoffMin
		}
		if err != nil {
			if errors.Is(err, errDormant) {
				// Not a lost stream: this cluster's DR role says wait.
				m.log.Debug("performance secondary waits: this cluster is a DR secondary", "backoff", backoff)
			} else {
				// An HA primary's nodes take turns: try the next one.
				attempt++
				c.base = m.nextPrimaryBase(c.base, st, attempt)
				m.metrics.reconnects.Add(1)
				rt.set(stateConnecting, "transient_failure")
				m.log.Info("replication stream lost; reconnecting", "error", err, "backoff", backoff)
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			case <-rt.restartCh:
			}
			backoff = min(backoff*2, backoffMax)
		}
	}
	rt.set(stateIdle, "idle")
}

// peerClient calls the primary's cluster port.
type peerClient struct {
	http    *http.Client
	base    string
	idle    time.Duration // an answer that delivers nothing for this long is cut
	metrics *Metrics
}

// streamIdle is how long a stream or an answer from the primary may deliver
// no byte before it is given up: three heartbeats and some slack. Bytes,
// not whole frames, count, so a large value on a slow link never trips it.
func (m *Manager) streamIdle() time.Duration { return 3*m.opts.HeartbeatInterval + 2*time.Second }

// stallAfter is how long a stream may deliver nothing before status shows
// it as not ready: the primary sends a heartbeat every interval.
func (m *Manager) stallAfter() time.Duration { return 2*m.opts.HeartbeatInterval + time.Second }

// post posts body as JSON and decodes the JSON answer into out (nil:
// the answer is drained unread).
func (c *peerClient) post(ctx context.Context, path string, body, out any) error {
	return c.postDecode(ctx, path, body, func(r *bufio.Reader) error {
		if out == nil {
			return nil
		}
		if err := json.NewDecoder(r).Decode(out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
		return nil
	})
}

// fetchBuckets asks the primary for the contents of chunk and decodes the
// binary answer (syncwire.go): a prefix of chunk, at least one bucket.
func (c *peerClient) fetchBuckets(ctx context.Context, chunk []int) (got map[int][]storage.KV, err error) {
	err = c.postDecode(ctx, "/dr/sync/fetch", map[string]any{"buckets": chunk}, func(r *bufio.Reader) error {
		got, err = readBuckets(r, chunk)
		return err
	})
	return got, err
}

// fetchRange asks the primary for its rows after a key (syncwire.go).
func (c *peerClient) fetchRange(ctx context.Context, after string) (kvs []storage.KV, done bool, err error) {
	err = c.postDecode(ctx, "/dr/sync/range", rangeRequest{After: after}, func(r *bufio.Reader) error {
		kvs, done, err = readRangeAnswer(r, after)
		return err
	})
	return kvs, done, err
}

// postDecode posts body as JSON and hands the answer to decode under a
// progress watchdog: an answer that stops moving for c.idle is cut.
func (c *peerClient) postDecode(ctx context.Context, path string, body any, decode func(*bufio.Reader) error) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// Reading to the end lets the connection be reused: a new mutual TLS
	// handshake per request costs several P-521 signature checks.
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: primary answered %d: %s", path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	answer := newProgressReader(resp.Body, &c.metrics.bytesReceived)
	stop := watchProgress(answer, c.idle, func() { _ = resp.Body.Close() })
	defer stop()
	if err := decode(bufio.NewReaderSize(answer, 64<<10)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

var errRootMismatch = errors.New("merkle root differs from the primary's at the same WAL index")

// followOnce opens one stream and runs it until it ends. It reports
// whether it made progress (so backoff can reset).
func (m *Manager) followOnce(ctx context.Context, rt *secondaryRuntime, c *peerClient, st *state, forceSync *bool) (bool, error) {
	if m.dormant() {
		rt.set(stateIdle, "idle")
		return false, errDormant
	}
	rt.set(stateConnecting, "connecting")
	pos := m.store.Position()
	raw, _ := json.Marshal(streamRequest{LastWAL: pos.LastWAL, LastEpoch: pos.LastEpoch, ForceSync: *forceSync, APIAddr: m.opts.APIAddr, ClusterAddr: m.ownClusterAddr(), BinaryWAL: true})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/dr/stream", bytes.NewReader(raw))
	if err != nil {
		return false, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("connect to primary: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("primary refused the stream (%d): %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	// A stream that delivers no byte for three heartbeats is dead; bytes
	// count, not frames, so a large frame on a slow link keeps it alive.
	body := newProgressReader(resp.Body, &m.metrics.bytesReceived)
	stopWatch := watchProgress(body, m.streamIdle(), func() {
		m.metrics.stalls.Add(1)
		m.log.Warn("replication stream delivered nothing; reconnecting", "idle_limit", m.streamIdle())
		_ = resp.Body.Close()
	})
	defer stopWatch()
	// The primary was alive when it sent its last byte, whole frame or not.
	defer func() { rt.facts.touch(time.Unix(0, body.lastByte.Load())) }()
	dec := json.NewDecoder(body)
	var start frame
	if err := dec.Decode(&start); err != nil || start.Type != "start" {
		return false, fmt.Errorf("read stream start: %v", err)
	}
	rt.facts.sawFrame(&start, time.Now())
	// A primary that granted binary WAL frames sends them after the start
	// line; one of an older version sends JSON lines only.
	next := func() (frame, error) {
		var f frame
		err := dec.Decode(&f)
		return f, err
	}
	if start.BinaryWAL {
		br := bufio.NewReaderSize(io.MultiReader(dec.Buffered(), body), writeChunk)
		next = func() (frame, error) { return readStreamFrame(br) }
	}
	if start.Mode == "sync" {
		stopWatch()
		// The primary ends the answer after the start frame: reading it to
		// the end frees the connection for the sync's requests and the
		// stream after it, without another handshake.
		_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
		m.log.Info("merkle sync needed", "reason", start.Reason)
		if err := m.merkleSync(ctx, rt, c); err != nil {
			return false, fmt.Errorf("merkle sync: %w", err)
		}
		*forceSync = false
		rt.synced = true
		return true, nil
	}
	m.learnPrimaryAddrs(ctx, st, start.ClusterAddrs)
	m.followedPrimary(ctx, st, start.PrimaryClusterAddr, start.PrimaryAPIAddr)
	rt.setAddr(c.base)
	rt.set(stateStreamWALs, "ready")
	m.markBootstrapped(ctx)
	m.prepareKit(st.ClusterID)
	rt.sawPrimary(start.LastWAL, pos.LastWAL, time.Now())
	rt.mu.Lock()
	rt.stream = body
	rt.mu.Unlock()
	defer func() {
		rt.mu.Lock()
		rt.stream = nil
		rt.mu.Unlock()
	}()

	hbCtx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	echoes := make(chan echoStamp, 1)
	go m.sendHeartbeats(hbCtx, rt, c, echoes, st.ClusterID)

	// A reader goroutine decodes frames while the loop below applies them,
	// so frames that pile up during one commit are applied in the next one.
	// The decoded frames waiting are bounded in bytes, not only in number:
	// each may carry values of up to the API's request limit.
	frames := make(chan frame, 64)
	budget := newByteBudget(maxQueuedFrameBytes)
	readErr := make(chan error, 1) // the reader's one reason for stopping
	stop, readerDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(frames)
		for {
			f, err := next()
			if err != nil {
				readErr <- err
				return
			}
			rt.facts.sawFrame(&f, time.Now())
			if f.Type == "heartbeat" && f.SentAt > 0 {
				// Echoed on receipt, not after the frames queued before it
				// are applied, nor on our own timer.
				offerEcho(echoes, echoStamp{sent: f.SentAt, recv: m.now().UnixNano()})
			}
			// Waiting for the apply loop is not the primary's silence.
			body.pause()
			ok := budget.acquire(entriesBytes(f.Entries), stop)
			if ok {
				select {
				case frames <- f:
				case <-stop:
					ok = false
				}
			}
			body.resume()
			if !ok {
				readErr <- nil
				return
			}
		}
	}()
	defer func() {
		close(stop)
		_ = resp.Body.Close() // unblocks a Decode in progress
		<-readerDone
	}()
	progressed := true
	for {
		f, ok := <-frames
		if !ok {
			err := <-readErr
			if ctx.Err() != nil {
				return progressed, nil
			}
			return progressed, fmt.Errorf("stream: %w", err)
		}
		switch f.Type {
		case "wal":
			entries, next := m.gatherWAL(f.Entries, frames)
			err := m.store.ApplyRemote(ctx, entries)
			budget.release(entriesBytes(entries))
			if err != nil {
				return progressed, err
			}
			now := time.Now()
			m.metrics.observeApply(entries, now)
			rt.applied(m.store.LastWAL(), now)
			if next == nil {
				continue
			}
			f = *next
		}
		switch f.Type {
		case "heartbeat":
			m.learnPrimaryAddrs(ctx, st, f.ClusterAddrs)
			now := time.Now()
			applied := m.store.LastWAL()
			rt.sawPrimary(f.LastWAL, applied, now)
			rt.mu.Lock()
			rt.lastHB = now
			rt.mu.Unlock()
			// Only this loop moves the position, so it is still applied.
			if f.Root != "" && applied == f.LastWAL && m.store.Position().MerkleRoot != f.Root {
				*forceSync = true
				m.log.Warn("merkle root differs from the primary's at the same WAL index; resyncing", "wal", f.LastWAL)
				return progressed, errRootMismatch
			}
		case "resync":
			m.log.Info("primary asked for a resync", "reason", f.Reason)
			return progressed, nil
		}
	}
}

// sendHeartbeats echoes every primary heartbeat frame the stream reader
// hands it, at once, and otherwise sends one of its own when the primary's
// have not come for an interval (a stream busy with large frames), so the
// primary hears from this secondary at least every interval.
func (m *Manager) sendHeartbeats(ctx context.Context, rt *secondaryRuntime, c *peerClient, echoes <-chan echoStamp, clusterID string) {
	t := time.NewTicker(m.opts.HeartbeatInterval)
	defer t.Stop()
	last := time.Now()
	m.postHeartbeat(ctx, rt, c, echoStamp{})
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-echoes:
			last = time.Now()
			m.postHeartbeat(ctx, rt, c, e)
		case now := <-t.C:
			// Keep a promotion's key material ready (promokit.go).
			m.prepareKit(clusterID)
			if now.Sub(last) >= m.opts.HeartbeatInterval {
				last = now
				m.postHeartbeat(ctx, rt, c, echoStamp{})
			}
		}
	}
}

// postHeartbeat sends one heartbeat (echoing e when set) and records the
// round trip and clock skew the primary's answer gives.
func (m *Manager) postHeartbeat(ctx context.Context, rt *secondaryRuntime, c *peerClient, e echoStamp) {
	applied := m.store.LastWAL()
	reqCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sent := m.now().UnixNano()
	hb := heartbeatRequest{Time: sent, Echo: e.sent, EchoRecv: e.recv, LastWAL: applied, APIAddr: m.opts.APIAddr, ClusterAddr: m.ownClusterAddr()}
	hb.Discards, _ = m.loadDiscards(ctx)
	var ans heartbeatAnswer
	if err := c.post(reqCtx, "/dr/heartbeat", hb, &ans); err != nil {
		return
	}
	answered := m.now().UnixNano()
	now := time.Now()
	rt.sawPrimary(ans.LastWAL, applied, now)
	rt.facts.contact(now, ans.LastWAL, ans.LastWALTime)
	rtt, skew := time.Duration(answered-sent), time.Duration(0)
	known := ans.RecvAt > 0 && ans.SentAt > 0
	if known {
		rtt, skew = roundTrip(sent, ans.RecvAt, ans.SentAt, answered)
	}
	rt.mu.Lock()
	rt.rtt = rtt
	if known {
		rt.skew = skew
	}
	rt.mu.Unlock()
	m.syncCarried(ctx, c, ans.CarriedDigest)
}

// maxApplyBatch bounds the entries applied in one transaction.
const maxApplyBatch = 4096

// gatherWAL appends the WAL frames already waiting to entries. It returns
// the first non-WAL frame it took, if any, for the caller to handle next.
func (m *Manager) gatherWAL(entries []storage.WALEntry, frames <-chan frame) ([]storage.WALEntry, *frame) {
	size := entriesBytes(entries)
	for len(entries) < maxApplyBatch && size < maxApplyBytes {
		select {
		case f, ok := <-frames:
			if !ok {
				return entries, nil
			}
			if f.Type != "wal" {
				return entries, &f
			}
			entries = append(entries, f.Entries...)
			size += entriesBytes(f.Entries)
		default:
			return entries, nil
		}
	}
	return entries, nil
}

// merkleSync compares page and bucket hashes with the primary's and copies
// only the buckets that differ, then sets the position to the primary's at
// the start of the sync; streaming resumes from there.
func (m *Manager) merkleSync(ctx context.Context, rt *secondaryRuntime, c *peerClient) error {
	rt.set(stateMerkleDiff, "ready")
	var start syncStart
	if err := c.post(ctx, "/dr/sync/start", struct{}{}, &start); err != nil {
		return err
	}
	local := m.store.BucketHashes()
	localPages := pageHashes(local)
	var pages []int
	for p := range numPages {
		if p >= len(start.Pages) || start.Pages[p] != localPages[p] {
			pages = append(pages, p)
		}
	}
	ranges := start.Ranges && m.store.CanCopyRanges()
	var buckets []int
	whole := false
	switch {
	case len(pages) == 0:
	case ranges && allZero(local):
		// Nothing here (a new secondary): every bucket the primary fills
		// differs, and there is no need to ask which.
		whole = true
	default:
		var hashes struct {
			Hashes map[int]string `json:"hashes"`
		}
		if err := c.post(ctx, "/dr/sync/buckets", map[string]any{"pages": pages}, &hashes); err != nil {
			return err
		}
		for b, h := range hashes.Hashes {
			if b >= 0 && b < len(local) && h != hex.EncodeToString(local[b]) {
				buckets = append(buckets, b)
			}
		}
		slices.Sort(buckets)
		// Most of the keyspace differs: copying it whole, in key order,
		// is cheaper on both sides than bucket by bucket.
		whole = ranges && len(buckets) > storage.NumBuckets/2
	}
	rt.set(stateMerkleSync, "ready")
	m.log.Info("merkle sync", "pages_differing", len(pages), "buckets_differing", len(buckets), "whole_keyspace", whole, "primary_wal", start.LastWAL)
	began := time.Now()
	// Count what the sync is about to discard while the WAL still says.
	discards, err := m.countDiscards(ctx, start.Forks)
	if err != nil {
		return err
	}
	var copyErr error
	if whole {
		copyErr = m.copyRanges(ctx, c)
	} else {
		copyErr = m.copyBuckets(ctx, c, buckets)
	}
	if copyErr != nil {
		return copyErr
	}
	if err := m.store.ResetPosition(ctx, start.LastWAL, start.LastEpoch); err != nil {
		return err
	}
	if discards != nil {
		if err := m.recordDiscards(ctx, discards); err != nil {
			m.log.Warn("could not record the discarded writes", "error", err)
		} else {
			m.log.Info("merkle sync discarded this cluster's writes after the failover fork", "writes", discards.Writes, "fork_wal", discards.ForkWAL)
		}
	}
	m.metrics.merkleSyncs.Add(1)
	m.log.Info("merkle sync finished", "buckets", len(buckets), "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// fetched is one chunk of buckets copied from the primary.
type fetched struct {
	entries map[int][]storage.KV
	err     error
}

// copyBuckets fetches the buckets in chunks and replaces them here. Up to
// fetchAhead chunks are fetched while the current one is written, so the
// primary's reads, the network and this side's inserts work at the same
// time.
func (m *Manager) copyBuckets(ctx context.Context, c *peerClient, buckets []int) error {
	ctx, cancel := context.WithCancel(ctx)
	var fetcher sync.WaitGroup
	defer func() {
		cancel()
		fetcher.Wait()
	}()
	chunks := make(chan fetched, fetchAhead)
	fetcher.Add(1)
	go func() {
		defer fetcher.Done()
		defer close(chunks)
		for i := 0; i < len(buckets); {
			chunk := buckets[i:min(i+fetchChunk, len(buckets))]
			// The primary answers a prefix of the chunk, bounded in bytes;
			// the rest is asked for next.
			got, err := c.fetchBuckets(ctx, chunk)
			i += len(got)
			select {
			case chunks <- fetched{entries: got, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for f := range chunks {
		if f.err != nil {
			return f.err
		}
		if err := m.store.ReplaceBuckets(ctx, f.entries); err != nil {
			return err
		}
		m.metrics.bucketsSynced.Add(uint64(len(f.entries)))
	}
	return ctx.Err()
}

// allZero reports whether every bucket hash is zero: an empty keyspace.
func allZero(hashes [][]byte) bool {
	for _, h := range hashes {
		for _, c := range h {
			if c != 0 {
				return false
			}
		}
	}
	return true
}

// rangeChunk is one key range fetched from the primary.
type rangeChunk struct {
	after string
	kvs   []storage.KV
	done  bool
	err   error
}

// copyRanges replaces the whole keyspace with the primary's, one key range
// per transaction, fetching up to fetchAhead ranges while writing one.
func (m *Manager) copyRanges(ctx context.Context, c *peerClient) error {
	whole := false // every range written
	ctx, cancel := context.WithCancel(ctx)
	var fetcher sync.WaitGroup
	defer func() {
		cancel()
		fetcher.Wait()
	}()
	chunks := make(chan rangeChunk, fetchAhead)
	fetcher.Add(1)
	go func() {
		defer fetcher.Done()
		defer close(chunks)
		after := ""
		for {
			kvs, done, err := c.fetchRange(ctx, after)
			select {
			case chunks <- rangeChunk{after: after, kvs: kvs, done: done, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil || done {
				return
			}
			after = kvs[len(kvs)-1].Key
		}
	}()
	defer func() {
		if !whole {
			// The copy did not finish: bucket reads and deletes need their
			// index back (ReplaceRange takes it away for the copy).
			repairCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := m.store.EnsureBucketIndex(repairCtx); err != nil {
				m.log.Warn("could not rebuild the bucket index after an interrupted sync", "error", err)
			}
		}
	}()
	for ch := range chunks {
		if ch.err != nil {
			return ch.err
		}
		if err := m.store.ReplaceRange(ctx, ch.after, ch.kvs, ch.done); err != nil {
			return err
		}
		if ch.done {
			whole = true
			m.metrics.bucketsSynced.Add(storage.NumBuckets)
			return nil
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("the primary's key ranges ended without a last one")
}

// markBootstrapped records that the first sync finished (mode leaves
// "bootstrapping").
// It holds mu across the write so that no transition interleaves; nothing
// that holds mu waits for the syncer.
func (m *Manager) markBootstrapped(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.Bootstrapped || m.st.Mode != ModeSecondary {
		return
	}
	next := m.st.clone()
	next.Bootstrapped = true
	op, err := m.stateOp(ctx, next)
	if err == nil {
		_, err = m.store.Write(ctx, op)
	}
	if err != nil {
		m.log.Warn("could not record the end of bootstrapping", "error", err)
		return
	}
	m.st = next
}
