package httpapi

import (
	"net/url"
	"testing"
)

// TestParamsUseBody: useBody silences the warning for every body key, and
// still names a query parameter no handler read.
func TestParamsUseBody(t *testing.T) {
	body := map[string]any{"a": "1", "b": "2"}
	p := newParams(body, nil)
	if w := p.unknownWarning(); w == "" {
		t.Fatal("no warning for unread body keys")
	}
	p.useBody(body)
	if w := p.unknownWarning(); w != "" {
		t.Fatalf("warning after useBody: %q", w)
	}
	p = newParams(body, url.Values{"q": {"x"}})
	p.useBody(body)
	if w := p.unknownWarning(); w != "Endpoint ignored these unrecognized parameters: [q]" {
		t.Fatalf("warning with an unread query parameter = %q", w)
	}
	p = newParams(body, url.Values{"a": {"from the query"}})
	p.useBody(body)
	if w := p.unknownWarning(); w != "" {
		t.Fatalf("warning when the query repeats a body key: %q", w)
	}
}
