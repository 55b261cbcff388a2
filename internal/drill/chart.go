package main

import (
	"fmt"
	"math"
	"strings"
)

// Chart geometry: one plot area, time on x; write rate on the left axis,
// replication lag (entries) on the right.
const (
	chartW, chartH         = 960, 380
	padL, padR, padT, padB = 64, 64, 40, 64
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
)

// Colours of the series and markers (the report test looks for them).
const (
	colRate      = "#1f77b4"
	colLag       = "#ff7f0e"
	colHBLoss    = "#d62728"
	colKill      = "#222222"
	colPromote   = "#2ca02c"
	colFirst     = "#9467bd"
	colRecovered = "#8c564b"
)

// timelineSVG draws the drill's timeline: write rate, replication lag,
// the heartbeat loss, the kill, the promotion and the first write.
func timelineSVG(r *results) string {
	tMax := r.DurationSeconds
	for _, s := range r.Samples {
		tMax = math.Max(tMax, s.T)
	}
	tMax = math.Max(tMax, 1)
	rateMax, lagMax := 1.0, 1.0
	for _, s := range r.Samples {
		rateMax = math.Max(rateMax, s.Rate)
		lagMax = math.Max(lagMax, s.LagEntries)
	}
	rateMax, lagMax = niceCeil(rateMax), niceCeil(lagMax)
	x := func(t float64) float64 { return padL + t/tMax*plotW }
	yRate := func(v float64) float64 { return padT + plotH - v/rateMax*plotH }
	yLag := func(v float64) float64 { return padT + plotH - v/lagMax*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="Failover timeline">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#999"/>`+"\n", padL, padT, plotW, plotH)
	// Heartbeat loss: from the last word of the primary to the promotion.
	if hb := r.Events.LastHeartbeat; hb != nil && r.Events.Promoted > *hb {
		fmt.Fprintf(&b, `<rect class="heartbeat-loss" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" fill-opacity="0.15"/>`+"\n",
			x(*hb), padT, math.Max(1, x(r.Events.Promoted)-x(*hb)), plotH, colHBLoss)
	}
	axes(&b, tMax, rateMax, lagMax)
	b.WriteString(series("write-rate", colRate, r.Samples, x, func(s sample) (float64, bool) { return yRate(s.Rate), true }))
	b.WriteString(series("replication-lag", colLag, r.Samples, x, func(s sample) (float64, bool) { return yLag(s.LagEntries), s.LagEntries >= 0 }))
	marker(&b, "link-cut", "link cut", colHBLoss, x(r.Events.LinkCut), 4)
	marker(&b, "kill", "SIGKILL", colKill, x(r.Events.Kill), 0)
	marker(&b, "promotion", "promotion", colPromote, x(r.Events.Promoted), 1)
	if fw := r.Events.FirstWrite; fw != nil {
		marker(&b, "first-write", "first write", colFirst, x(*fw), 2)
	}
	if rp := r.Events.RecoveryPoint; rp != nil {
		marker(&b, "recovery-point", "recovery point", colRecovered, x(*rp), 3)
	}
	legend(&b)
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func axes(b *strings.Builder, tMax, rateMax, lagMax float64) {
	step := niceCeil(tMax / 10)
	for t := 0.0; t <= tMax+1e-9; t += step {
		px := padL + t/tMax*plotW
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" font-size="11" text-anchor="middle">%gs</text>`+"\n",
			px, padT, px, padT+plotH, px, padT+plotH+16, t)
	}
	for i := 0; i <= 4; i++ {
		py := float64(padT) + float64(plotH)*(1-float64(i)/4)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="%s">%g</text><text x="%d" y="%.1f" font-size="11" fill="%s">%g</text>`+"\n",
			padL-6, py+4, colRate, rateMax*float64(i)/4, padL+plotW+6, py+4, colLag, lagMax*float64(i)/4)
	}
	fmt.Fprintf(b, `<text x="14" y="%d" font-size="12" fill="%s" transform="rotate(-90 14 %d)" text-anchor="middle">writes/s</text>`+"\n", padT+plotH/2, colRate, padT+plotH/2)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="12" fill="%s" transform="rotate(90 %d %d)" text-anchor="middle">lag (entries)</text>`+"\n",
		chartW-14, padT+plotH/2, colLag, chartW-14, padT+plotH/2)
}

// series draws one polyline per stretch of samples where ok holds.
func series(class, colour string, samples []sample, x func(float64) float64, y func(sample) (float64, bool)) string {
	var b strings.Builder
	var pts []string
	flush := func() {
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline class="%s" fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", class, colour, strings.Join(pts, " "))
		}
		pts = pts[:0]
	}
	for _, s := range samples {
		py, ok := y(s)
		if !ok {
			flush()
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.T), py))
	}
	flush()
	return b.String()
}

func marker(b *strings.Builder, class, label, colour string, px float64, slot int) {
	fmt.Fprintf(b, `<g class="marker %s"><line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="5,3"/>`+
		`<text x="%.1f" y="%d" font-size="11" fill="%s">%s</text></g>`+"\n",
		class, px, padT, px, padT+plotH, colour, px+3, padT+12+slot*13, colour, label)
}

func legend(b *strings.Builder) {
	items := []struct{ colour, label string }{
		{colRate, "write rate (acknowledged/s)"}, {colLag, "replication lag (entries)"}, {colHBLoss, "heartbeat lost"},
	}
	for i, it := range items {
		px := padL + i*230
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="14" height="10" fill="%s"/><text x="%d" y="%d" font-size="12">%s</text>`+"\n",
			px, chartH-22, it.colour, px+20, chartH-13, it.label)
	}
}
