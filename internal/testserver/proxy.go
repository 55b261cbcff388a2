package testserver

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 that forwards every connection to one
// target at a bounded rate, like a slow link between two clusters. The rate
// is shared by all connections in each direction (one link), and SetRate(0)
// stalls the link: bytes stop moving while connections stay open.
type Proxy struct {
	Addr string // 127.0.0.1:port to dial instead of the target

	t      testing.TB
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu      sync.Mutex
	rate    int64         // bytes per second in each direction; 0 stalls
	changed chan struct{} // closed and replaced by SetRate and Close
	closed  bool
	conns   map[net.Conn]struct{}
	next    [2]time.Time // per direction: when the link is free again
}

// proxyChunk is the most one read forwards at once: small enough that the
// pacing is smooth and that other connections get their turn.
const proxyChunk = 16 << 10

// ThrottledProxy starts a proxy to target (host:port) that moves at most
// bytesPerSecond in each direction. It is closed when the test ends.
func ThrottledProxy(t testing.TB, target string, bytesPerSecond int64) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), t: t, target: target, ln: ln, rate: bytesPerSecond,
		changed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// SetRate changes the rate of the link; 0 stalls it until the next SetRate.
func (p *Proxy) SetRate(bytesPerSecond int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = bytesPerSecond
	now := time.Now()
	p.next = [2]time.Time{now, now}
	close(p.changed)
	p.changed = make(chan struct{})
}

// Close stops accepting, closes every connection and waits for the copies.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.changed)
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = in.Close()
			continue
		}
		if !p.track(in, out) {
			return
		}
		p.wg.Add(2)
		go p.pipe(out, in, 0)
		go p.pipe(in, out, 1)
	}
}

// track registers a connection pair unless the proxy is closing.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies src to dst through the pacer of direction dir, then closes
// both ends so the peer sees the connection end.
func (p *Proxy) pipe(dst, src net.Conn, dir int) {
	defer p.wg.Done()
	defer func() {
		_ = dst.Close()
		_ = src.Close()
	}()
	buf := make([]byte, proxyChunk)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pace(dir, n) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: both ends close
		}
	}
}

// pace waits until n bytes may cross the link in direction dir. It reports
// false when the proxy closes first.
func (p *Proxy) pace(dir, n int) bool {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return false
		}
		changed := p.changed
		if p.rate <= 0 {
			p.mu.Unlock()
			<-changed // stalled until SetRate or Close
			continue
		}
		now := time.Now()
		start := p.next[dir]
		if start.Before(now) {
			start = now
		}
		p.next[dir] = start.Add(time.Duration(int64(n) * int64(time.Second) / p.rate))
		p.mu.Unlock()
		wait := time.NewTimer(time.Until(start))
		select {
		case <-wait.C:
			return true
		case <-changed:
			wait.Stop()
			// The rate changed (or the proxy closed): pace again.
		}
	}
}
