package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// cluster is one vaultrepl-server process of the drill's local topology.
type cluster struct {
	name      string
	bin       string
	db        string
	log       string
	api       int
	cport     int
	addr      string // http://127.0.0.1:api
	unsealKey string // hex, from the dev banner
	cmd       *exec.Cmd
	done      chan struct{}
}

// freePorts returns n distinct free loopback ports; the listeners are held
// together so the kernel cannot hand out the same port twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer func() { _ = ln.Close() }()
		a, ok := ln.Addr().(*net.TCPAddr)
		if !ok {
			return nil, errors.New("not a TCP address")
		}
		ports = append(ports, a.Port)
	}
	return ports, nil
}

// startDev starts a new dev-mode cluster (root token "root", one unseal
// key share) and waits for its banner.
func startDev(ctx context.Context, bin, work, name string, heartbeat time.Duration) (*cluster, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	c := &cluster{name: name, bin: bin, db: filepath.Join(work, name+".db"), log: filepath.Join(work, name+".log"),
		api: ports[0], cport: ports[1], addr: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	banner, err := c.start(heartbeat, "-dev", "-dev-root-token-id", "root")
	if err != nil {
		return nil, err
	}
	select {
	case c.unsealKey = <-banner:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("cluster %s exited at start-up; see %s", name, c.log)
	case <-time.After(20 * time.Second):
		c.kill()
		return nil, fmt.Errorf("cluster %s did not start within 20s", name)
	case <-ctx.Done():
		c.kill()
		return nil, ctx.Err()
	}
}

// restart starts the cluster again on its database and ports, without
// -dev (the database is initialised); it comes up sealed.
func (c *cluster) restart(ctx context.Context, heartbeat time.Duration) error {
	if _, err := c.start(heartbeat); err != nil {
		return err
	}
	return waitFor(ctx, 20*time.Second, c.name+" answers", func() (bool, string) {
		st, err := anon(c.addr).SealStatus(ctx)
		return err == nil && st != nil, fmt.Sprint(err)
	})
}

func (c *cluster) start(heartbeat time.Duration, extra ...string) (<-chan string, error) {
	logFile, err := os.OpenFile(c.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	args := append([]string{"-listen-address", fmt.Sprintf("127.0.0.1:%d", c.api),
		"-cluster-listen-address", fmt.Sprintf("127.0.0.1:%d", c.cport),
		"-db", c.db, "-heartbeat-interval", heartbeat.String()}, extra...)
	cmd := exec.Command(filepath.Join(c.bin, "vaultrepl-server"), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start vaultrepl-server (run make build first): %w", err)
	}
	c.cmd, c.done = cmd, make(chan struct{})
	banner := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			_, _ = fmt.Fprintln(logFile, line)
			if key, ok := strings.CutPrefix(line, "Unseal Key: "); ok {
				banner <- key
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	done := c.done
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(done) }()
	return banner, nil
}

// kill sends SIGKILL (once) and waits for the process to end.
func (c *cluster) kill() {
	if c == nil || c.cmd == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}
