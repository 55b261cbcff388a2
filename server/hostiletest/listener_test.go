package hostiletest

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// TestTrickledBodiesDoNotStarve: 300 connections that announce a body and
// trickle it a byte at a time neither starve other clients nor stay open:
// with http_read_timeout at 3s, a normal request is answered while they
// are all open, and the server closes every one of them after the timeout.
func TestTrickledBodiesDoNotStarve(t *testing.T) {
	const (
		conns       = 300
		readTimeout = 3 * time.Second
		// trickleEvery paces the attack (one byte per connection per tick);
		// it is not a synchronisation.
		trickleEvery = 200 * time.Millisecond
	)
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{
		Args: []string{"-http-read-timeout", readTimeout.String()},
	})
	addr := strings.TrimPrefix(srv.Addr, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var (
		wg       sync.WaitGroup
		started  atomic.Int64 // headers sent
		closed   atomic.Int64 // closed by the server
		statusMu sync.Mutex
		statuses = map[string]int{} // first line the server sent before closing, if any
	)
	allStarted := make(chan struct{})
	for range conns {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			head := "PUT /v1/sys/unseal HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
			if _, err := c.Write([]byte(head)); err != nil {
				t.Errorf("send headers: %v", err)
				return
			}
			if started.Add(1) == conns {
				close(allStarted)
			}
			gone := make(chan struct{})
			go trickle(ctx, c, trickleEvery, gone)
			line, _ := bufio.NewReader(c).ReadString('\n') // blocks until the server answers or closes
			close(gone)
			closed.Add(1)
			statusMu.Lock()
			statuses[strings.TrimSpace(line)]++
			statusMu.Unlock()
		}()
	}
	select {
	case <-allStarted:
	case <-ctx.Done():
		t.Fatalf("only %d of %d connections sent their headers", started.Load(), conns)
	}

	// A normal client is answered while every trickling connection is open.
	client := srv.HTTPClient()
	client.Timeout = readTimeout
	begin := time.Now()
	resp, err := client.Get(srv.Addr + "/v1/sys/health")
	if err != nil {
		t.Fatalf("health while %d bodies trickle: %v", conns, err)
	}
	_ = resp.Body.Close()
	took := time.Since(begin)
	if n := closed.Load(); n != 0 {
		t.Fatalf("health answered after %s, but the server had already closed %d trickling connections: not shown to be answered alongside them", took, n)
	}
	t.Logf("health answered in %s (status %d) with %d trickling connections open", took, resp.StatusCode, conns)

	// The server cuts every trickling connection after the read timeout.
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-ctx.Done():
		t.Fatalf("%d of %d trickling connections still open after %s", conns-int(closed.Load()), conns, time.Minute)
	}
	t.Logf("server closed all %d trickling connections; first lines: %v", conns, statuses)
	for line := range statuses {
		if strings.Contains(line, " 500 ") {
			t.Errorf("a trickled body was answered %q; a read timeout is the client's fault, not a 500", line)
		}
	}
	if rss, err := srv.PeakRSS(); err == nil {
		t.Logf("server peak RSS %d MiB", rss>>20)
	}
	if resp, err := client.Get(srv.Addr + "/v1/sys/health"); err != nil {
		t.Fatalf("health after the attack: %v", err)
	} else {
		_ = resp.Body.Close()
	}
}

// trickle writes one body byte per tick until the server is gone or the
// test ends.
func trickle(ctx context.Context, c net.Conn, every time.Duration, gone <-chan struct{}) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-gone:
			return
		case <-tick.C:
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
		}
	}
}

// TestConnectionCap: with max_connections at 4, four idle keep-alive
// connections hold every slot; a fifth client waits in the accept queue
// and is answered as soon as one of the four closes.
func TestConnectionCap(t *testing.T) {
	const maxConns = 4
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{
		Args: []string{"-max-connections", strconv.Itoa(maxConns)},
	})
	addr := strings.TrimPrefix(srv.Addr, "http://")
	request := "GET /v1/sys/health HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	// ask sends one request on c and returns a channel that yields the
	// status line of its answer.
	ask := func(c net.Conn) <-chan string {
		ch := make(chan string, 1)
		if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(request)); err != nil {
			t.Fatalf("send: %v", err)
		}
		go func() {
			line, _ := bufio.NewReader(c).ReadString('\n')
			ch <- strings.TrimSpace(line)
		}()
		return ch
	}
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// The readiness probe's connection must be gone first, or it holds a
	// slot: poll until all maxConns connections are answered.
	held := make([]net.Conn, maxConns)
	for i := range held {
		held[i] = dial()
		select {
		case line := <-ask(held[i]):
			if !strings.HasPrefix(line, "HTTP/1.1 ") {
				t.Fatalf("held connection %d: answer %q", i, line)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("held connection %d not answered: a slot is taken by another client", i)
		}
	}
	waiting := ask(dial())
	// Absence can only be shown by waiting a bounded time.
	select {
	case line := <-waiting:
		t.Fatalf("a connection beyond max_connections=%d was answered (%q)", maxConns, line)
	case <-time.After(500 * time.Millisecond):
	}
	_ = held[0].Close()
	select {
	case line := <-waiting:
		if !strings.HasPrefix(line, "HTTP/1.1 ") {
			t.Fatalf("queued connection: answer %q", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the queued connection was not answered after a slot was freed")
	}
}
