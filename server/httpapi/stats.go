package httpapi

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"
)

// requestStats counts requests and their latency by route, for sys/metrics.
type requestStats struct {
	mu     sync.Mutex
	routes map[string]*routeStats
}

type routeStats struct {
	count   map[int]uint64 // by status code
	seconds float64
	total   uint64
}

func newRequestStats() *requestStats { return &requestStats{routes: map[string]*routeStats{}} }

func (s *requestStats) observe(route string, status int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.routes[route]
	if r == nil {
		r = &routeStats{count: map[int]uint64{}}
		s.routes[route] = r
	}
	r.count[status]++
	r.total++
	r.seconds += d.Seconds()
}

func (s *requestStats) writePrometheus(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.routes))
	for n := range s.routes {
		names = append(names, n)
	}
	sort.Strings(names)
	_, _ = fmt.Fprint(w, "# HELP vaultrepl_http_requests_total HTTP requests by route and status.\n# TYPE vaultrepl_http_requests_total counter\n")
	for _, n := range names {
		codes := make([]int, 0, len(s.routes[n].count))
		for c := range s.routes[n].count {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		for _, c := range codes {
			_, _ = fmt.Fprintf(w, "vaultrepl_http_requests_total{route=%q,code=\"%s\"} %d\n", n, strconv.Itoa(c), s.routes[n].count[c])
		}
	}
	_, _ = fmt.Fprint(w, "# HELP vaultrepl_http_request_duration_seconds HTTP request latency by route.\n# TYPE vaultrepl_http_request_duration_seconds summary\n")
	for _, n := range names {
		_, _ = fmt.Fprintf(w, "vaultrepl_http_request_duration_seconds_sum{route=%q} %g\nvaultrepl_http_request_duration_seconds_count{route=%q} %d\n", n, s.routes[n].seconds, n, s.routes[n].total)
	}
}
