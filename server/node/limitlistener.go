package node

import (
	"net"
	"sync"
)

// cappedListener caps how many accepted connections are open at once. At
// the cap, Accept waits for one to close; new clients then queue in the
// kernel's accept backlog instead of each costing a goroutine, buffers and
// a file descriptor. (golang.org/x/net/netutil.LimitListener does the same;
// this keeps the module's direct dependencies as they are.)
type cappedListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// limitListener wraps ln; max <= 0 means no cap.
func limitListener(ln net.Listener, maxConns int) net.Listener {
	if maxConns <= 0 {
		return ln
	}
	return &cappedListener{Listener: ln, sem: make(chan struct{}, maxConns), done: make(chan struct{})}
}

func (l *cappedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *cappedListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back exactly once, however often it is closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
