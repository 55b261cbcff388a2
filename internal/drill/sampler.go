package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is one point of the timeline, taken every sampleEvery.
type sample struct {
	T          float64 `json:"t"`           // seconds since the drill started
	Acked      int64   `json:"acked"`       // acknowledged writes so far
	Rate       float64 `json:"rate"`        // acknowledged writes per second since the previous sample
	LagEntries float64 `json:"lag_entries"` // the secondary's lag, -1 when it is not a secondary
	Connected  bool    `json:"connected"`   // the secondary's stream to its primary is up
}

const sampleEvery = 100 * time.Millisecond

// sampler records the timeline and prints the progress line.
type sampler struct {
	start   time.Time
	l       *load
	watched *cluster // the secondary

	tty     bool // stderr is a terminal: redraw the progress line in place
	mu      sync.Mutex
	samples []sample
	phase   string
	done    chan struct{}
	wg      sync.WaitGroup
}

func startSampler(ctx context.Context, start time.Time, l *load, secondary *cluster) *sampler {
	s := &sampler{start: start, l: l, watched: secondary, phase: "load", done: make(chan struct{})}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		s.tty = true
	}
	s.wg.Add(1)
	go s.loop(ctx)
	return s
}

func (s *sampler) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

func (s *sampler) loop(ctx context.Context) {
	defer s.wg.Done()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	client := &http.Client{Timeout: 500 * time.Millisecond}
	var prev sample
	for i := 0; ; i++ {
		select {
		case <-s.done:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			cur := sample{T: now.Sub(s.start).Seconds(), Acked: s.l.acked.Load(), LagEntries: -1}
			if dt := cur.T - prev.T; prev.T > 0 && dt > 0 {
				cur.Rate = float64(cur.Acked-prev.Acked) / dt
			}
			cur.LagEntries, cur.Connected = secondaryView(ctx, client, s.watched.addr)
			s.mu.Lock()
			s.samples = append(s.samples, cur)
			phase := s.phase
			s.mu.Unlock()
			prev = cur
			// On a terminal the line is redrawn in place; in a log, one
			// line a second.
			if (s.tty && i%3 == 0) || (!s.tty && i%10 == 0) {
				lag := "-"
				if cur.LagEntries >= 0 {
					lag = strconv.FormatFloat(cur.LagEntries, 'f', 0, 64)
				}
				lead, end := "\r", ""
				if !s.tty {
					lead, end = "", "\n"
				}
				_, _ = fmt.Fprintf(os.Stderr, "%s  %5.1fs  %-28s acked %6d  rate %6.0f/s  lag %5s entries  %s", lead, cur.T, phase, cur.Acked, cur.Rate, lag, end)
			}
		}
	}
}

// stop ends sampling and the progress line.
func (s *sampler) stop() []sample {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
	if s.tty {
		_, _ = fmt.Fprintln(os.Stderr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sample(nil), s.samples...)
}

// secondaryView reads the watched cluster's replication lag (metrics) and
// whether its stream is connected; lag -1 when it is not a secondary.
func secondaryView(ctx context.Context, client *http.Client, addr string) (float64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/v1/sys/metrics?format=prometheus", nil)
	if err != nil {
		return -1, false
	}
	req.Header.Set("X-Vault-Token", "root")
	resp, err := client.Do(req)
	if err != nil {
		return -1, false
	}
	defer func() { _ = resp.Body.Close() }()
	lag, idle := -1.0, -1.0
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "vaultrepl_replication_lag_entries "); ok {
			lag, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, "vaultrepl_replication_stream_stalled "); ok {
			idle, _ = strconv.ParseFloat(v, 64)
		}
	}
	// A secondary without an open stream reports no stall gauge value of
	// its own; its connection shows in the status.
	connected := false
	if lag >= 0 {
		st, err := anon(addr).DRStatus(ctx)
		connected = err == nil && len(st.Primaries) > 0 && st.Primaries[0].ConnectionStatus == "connected" && idle == 0
	}
	return lag, connected
}
