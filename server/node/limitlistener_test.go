package node

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestConnectionCap: at the cap, Accept waits until an accepted connection
// closes (closing it twice frees one slot only), and Close ends a waiting
// Accept.
func TestConnectionCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, 2)
	t.Cleanup(func() { _ = ln.Close() })
	dial := func() {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	accepted := make(chan net.Conn, 4)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		dial()
	}
	first, second := recv(t, accepted), recv(t, accepted)
	// The third client is connected (the kernel queued it) but not
	// accepted while two are open. A bounded wait can only show absence.
	select {
	case c := <-accepted:
		t.Fatalf("accepted %v beyond the cap of 2", c.RemoteAddr())
	case <-time.After(200 * time.Millisecond):
	}
	_ = first.Close()
	_ = first.Close() // a second close must not free a second slot
	third := recv(t, accepted)
	dial()
	select {
	case c := <-accepted:
		t.Fatalf("accepted %v beyond the cap after a double close", c.RemoteAddr())
	case <-time.After(200 * time.Millisecond):
	}
	_ = second.Close()
	_ = third.Close()
	_ = recv(t, accepted).Close()

	_ = ln.Close()
	select {
	case err := <-acceptErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still waiting 10s after Close")
	}
}

func recv(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted within 10s")
		return nil
	}
}

func TestNoCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inner.Close() }()
	if ln := limitListener(inner, 0); ln != inner {
		t.Fatal("a cap of 0 wrapped the listener; 0 means no cap")
	}
}
