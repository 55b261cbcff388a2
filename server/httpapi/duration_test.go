package httpapi

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestDurationParam(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want time.Duration
		bad  bool
	}{
		{"seconds as a number", json.Number("90"), 90 * time.Second, false},
		{"seconds as a string", "90", 90 * time.Second, false},
		{"go duration", "1h30m", 90 * time.Minute, false},
		{"days", "2d", 48 * time.Hour, false},
		{"most days that fit", "106751d", 106751 * 24 * time.Hour, false},
		{"days that overflow", "106752d", 0, true},
		{"seconds that overflow as a string", "9223372037", 0, true},
		{"seconds that overflow as a number", json.Number("9223372037"), 0, true},
		{"hours that overflow", "2562048h", 0, true},
		{"negative seconds", "-5", 0, true},
		{"negative number", json.Number("-5"), 0, true},
		{"negative days", "-1d", 0, true},
		{"negative go duration", "-5m", 0, true},
		{"fractional number", json.Number("1.5"), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newParams(map[string]any{"ttl": tt.v}, url.Values{})
			got := p.Duration("ttl")
			err := p.Err()
			if tt.bad {
				if err == nil || !strings.Contains(err.Error(), `parameter "ttl"`) {
					t.Fatalf("Duration(%v) = %v, %v; want a 400 naming ttl", tt.v, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Duration(%v) = %v, %v; want %v", tt.v, got, err, tt.want)
			}
		})
	}
}
