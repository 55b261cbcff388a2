package replication

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Limits of the replication data plane. A value may be as large as the API
// accepts (32 MiB), so frames, batches and waits are bounded in bytes and
// measured by bytes moved, not by whole frames.
const (
	// walFrameBytes bounds the keys and values of one WAL frame; a single
	// larger entry travels alone.
	walFrameBytes = 4 << 20
	// streamWriteIdle is how long one write to a secondary may make no
	// progress before the primary gives up on the stream. The deadline is
	// renewed for every writeChunk bytes, so a slow link that keeps moving
	// is never cut.
	streamWriteIdle = 10 * time.Second
	writeChunk      = 64 << 10
	// fetchBytes bounds the keys and values of one merkle-sync fetch
	// answer; it holds at least one bucket whatever its size.
	fetchBytes = 8 << 20
	// rangeBytes bounds the keys and values of one key-range answer of a
	// merkle sync: small enough that fetching, writing and the primary's
	// reads overlap over a bootstrap of a few MiB, large enough that a
	// transaction per range costs little.
	rangeBytes = 1 << 20
	// fetchAhead is how many fetched chunks a merkle sync holds decoded
	// while it writes the one before them.
	fetchAhead = 2
	// maxQueuedFrameBytes bounds the decoded WAL frames a secondary holds
	// waiting to be applied; one frame is always admitted.
	maxQueuedFrameBytes = 64 << 20
	// maxApplyBytes bounds the keys and values applied in one transaction.
	maxApplyBytes = 64 << 20
	// peerResponseTimeout bounds the wait for a primary's response headers.
	peerResponseTimeout = 30 * time.Second
)

// entryBytes is what one WAL entry counts against the byte limits.
func entryBytes(e storage.WALEntry) int64 { return int64(len(e.Key) + len(e.Value)) }

func entriesBytes(entries []storage.WALEntry) int64 {
	var n int64
	for _, e := range entries {
		n += entryBytes(e)
	}
	return n
}

// progressWriter writes a response in chunks, renewing the connection's
// write deadline before each, so the deadline measures progress: a stream
// dies when the peer stops reading, not when a large frame takes long.
type progressWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	sent    *atomic.Uint64
	written int64 // bytes this writer passed on
}

func (p *progressWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), writeChunk)
		_ = p.rc.SetWriteDeadline(time.Now().Add(streamWriteIdle))
		k, err := p.w.Write(b[:n])
		written += k
		p.written += int64(k)
		p.sent.Add(uint64(k))
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

// done clears the write deadline: net/http keeps a connection's deadline
// across keep-alive requests unless a WriteTimeout resets it, and the next
// answer on this connection must not inherit one that has passed.
func (p *progressWriter) done() {
	_ = p.rc.SetWriteDeadline(time.Time{})
}

// flush pushes buffered bytes to the peer under a fresh deadline.
func (p *progressWriter) flush() error {
	_ = p.rc.SetWriteDeadline(time.Now().Add(streamWriteIdle))
	return p.rc.Flush()
}

// writeWALFrame writes a wal frame as one NDJSON line, streaming each value
// through a base64 encoder: encoding/json would first build the whole
// encoded frame in memory, a third larger than the values themselves. The
// output decodes into frame exactly as json.Marshal's would.
func writeWALFrame(w io.Writer, entries []storage.WALEntry) error {
	bw := bufio.NewWriterSize(w, writeChunk)
	_, _ = bw.WriteString(`{"type":"wal","entries":[`)
	for i, e := range entries {
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		key, err := json.Marshal(e.Key)
		if err != nil {
			return err
		}
		_, _ = bw.WriteString(`{"i":` + strconv.FormatUint(e.Index, 10) + `,"e":` + strconv.FormatUint(e.Epoch, 10))
		if e.Delete {
			_, _ = bw.WriteString(`,"d":true`)
		}
		_, _ = bw.WriteString(`,"k":`)
		_, _ = bw.Write(key)
		if len(e.Value) > 0 {
			_, _ = bw.WriteString(`,"v":"`)
			enc := base64.NewEncoder(base64.StdEncoding, bw)
			_, _ = enc.Write(e.Value)
			_ = enc.Close()
			_ = bw.WriteByte('"')
		}
		_, _ = bw.WriteString(`,"t":` + strconv.FormatInt(e.CreatedAt, 10) + `}`)
	}
	_, _ = bw.WriteString("]}\n")
	return bw.Flush() // the first write error, if any, sticks in bw
}

// progressReader counts the bytes of a stream and when the last one came,
// for the watchdog, the status and the metrics.
type progressReader struct {
	r        io.Reader
	received *atomic.Uint64
	last     atomic.Int64 // Unix ns of the last read that returned bytes
	paused   atomic.Bool  // the consumer is busy: not reading is not the peer's fault
	lastByte atomic.Int64 // Unix ns of the last byte from the peer (resume does not move it)
}

// pause and resume bracket a wait of the consumer (applying what it read):
// the stream is not idle meanwhile, and its idle time restarts on resume.
func (p *progressReader) pause() { p.paused.Store(true) }

func (p *progressReader) resume() {
	p.last.Store(time.Now().UnixNano())
	p.paused.Store(false)
}

func newProgressReader(r io.Reader, received *atomic.Uint64) *progressReader {
	p := &progressReader{r: r, received: received}
	p.last.Store(time.Now().UnixNano())
	return p
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.received.Add(uint64(n))
		now := time.Now().UnixNano()
		p.last.Store(now)
		p.lastByte.Store(now)
	}
	return n, err
}

// idleFor is how long the stream has delivered nothing.
func (p *progressReader) idleFor(now time.Time) time.Duration {
	if p.paused.Load() {
		return 0
	}
	return now.Sub(time.Unix(0, p.last.Load()))
}

// watchProgress calls cut once when p has delivered nothing for idle. The
// returned function stops the watch.
func watchProgress(p *progressReader, idle time.Duration, cut func()) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(max(idle/8, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if p.idleFor(now) > idle {
					cut()
					return
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// byteBudget bounds the bytes held between a reader and the loop that
// consumes what it read. One holder is always admitted, so an item larger
// than the budget still passes, alone.
type byteBudget struct {
	mu    sync.Mutex
	used  int64
	limit int64
	freed chan struct{} // closed and replaced whenever bytes are released
}

func newByteBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, freed: make(chan struct{})}
}

// acquire waits until n bytes fit or stop is closed (then it reports false).
func (b *byteBudget) acquire(n int64, stop <-chan struct{}) bool {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return true
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-stop:
			return false
		}
	}
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
}
