package main

import (
	"io"
	"net"
	"sync"
	"time"
)

// link is the cluster link between the secondary and the primary: a TCP
// relay on loopback that the drill can cut, as when the primary's site
// loses its network before its servers die.
type link struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func startLink(target string) (*link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &link{ln: ln, target: target, conns: map[net.Conn]bool{}}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

func (l *link) addr() string { return l.ln.Addr().String() }

func (l *link) serve() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", l.target, 2*time.Second)
		l.mu.Lock()
		if err != nil || l.cut {
			l.mu.Unlock()
			_ = c.Close()
			if up != nil {
				_ = up.Close()
			}
			continue
		}
		l.conns[c], l.conns[up] = true, true
		l.mu.Unlock()
		l.wg.Add(2)
		go func() { defer l.wg.Done(); _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { defer l.wg.Done(); _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// sever closes every connection and refuses new ones.
func (l *link) sever() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for c := range l.conns {
		_ = c.Close()
	}
	l.conns = map[net.Conn]bool{}
}

// close severs the link and stops it.
func (l *link) close() {
	l.sever()
	_ = l.ln.Close()
	l.wg.Wait()
}
