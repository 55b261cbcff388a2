package httpapi

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/randid"
)

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

// params reads request parameters with Vault's lenient typing (numbers as
// strings, lists as comma-separated strings) and remembers which parameters
// were used, so the rest can be named in a warning, and every type mistake,
// so they can all be reported at once.
type params struct {
	values map[string]any
	used   map[string]bool // nil until a parameter is read
	// allUsed: every parameter counts as read (useBody on a request
	// without query parameters), with no per-key bookkeeping.
	allUsed bool
	errs    []string
}

func newParams(body map[string]any, query url.Values) *params {
	if !hasParams(query) {
		// Nothing to merge: the body is only read, never changed.
		return &params{values: body}
	}
	values := make(map[string]any, len(body)+len(query))
	for k, v := range query {
		if k == "list" || len(v) == 0 {
			continue
		}
		values[k] = v[0]
	}
	for k, v := range body {
		values[k] = v
	}
	return &params{values: values}
}

// markUsed records that a handler read name.
func (p *params) markUsed(name string) {
	if p.used == nil {
		p.used = make(map[string]bool, 4)
	}
	p.used[name] = true
}

// useBody marks every key of body, the request's decoded body, as read.
func (p *params) useBody(body map[string]any) {
	if len(p.values) == len(body) {
		// values holds body's keys (newParams) and, being no larger, no
		// query parameter besides.
		p.allUsed = true
		return
	}
	for k := range body {
		p.markUsed(k)
	}
}

// hasParams reports whether query holds a value newParams would merge.
func hasParams(query url.Values) bool {
	for k, v := range query {
		if k != "list" && len(v) > 0 {
			return true
		}
	}
	return false
}

func (p *params) get(name string) (any, bool) {
	p.markUsed(name)
	v, ok := p.values[name]
	if !ok || v == nil {
		return nil, false
	}
	return v, true
}

func (p *params) has(name string) bool {
	_, ok := p.get(name)
	return ok
}

func (p *params) fail(name, want string, v any) {
	p.errs = append(p.errs, fmt.Sprintf("parameter %q: expected %s, got %s", name, want, jsonKind(v)))
}

func (p *params) String(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	p.fail(name, "a string", v)
	return ""
}

func (p *params) Int(name string, def int) int {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	switch t := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(t.String(), 10, 64); err == nil && n >= -1<<31 && n < 1<<31 {
			return int(n)
		}
	case string:
		if t == "" {
			return def
		}
		if n, err := strconv.ParseInt(t, 10, 32); err == nil {
			return int(n)
		}
	}
	p.fail(name, "an integer", v)
	return def
}

func (p *params) Bool(name string, def bool) bool {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	switch t := v.(type) {
	case bool:
		return t
	case string:
		if t == "" {
			return def
		}
		if b, err := strconv.ParseBool(t); err == nil {
			return b
		}
	case json.Number:
		if t.String() == "0" || t.String() == "1" {
			return t.String() == "1"
		}
	}
	p.fail(name, "a boolean", v)
	return def
}

// OptionalBool is Bool that also says whether the parameter was given.
func (p *params) OptionalBool(name string) *bool {
	if !p.has(name) {
		return nil
	}
	if s, ok := p.values[name].(string); ok && s == "" {
		return nil
	}
	b := p.Bool(name, false)
	return &b
}

func (p *params) Strings(name string) []string {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	var out []string
	switch t := v.(type) {
	case string:
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	case []any:
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				p.fail(name, "a list of strings", v)
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	p.fail(name, "a list of strings or a comma-separated string", v)
	return nil
}

// Duration accepts a number of seconds or a Go/Vault duration string ("30m").
func (p *params) Duration(name string) time.Duration {
	v, ok := p.get(name)
	if !ok {
		return 0
	}
	switch t := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(t.String(), 10, 64); err == nil && n >= 0 && n <= maxDurationSeconds {
			return time.Duration(n) * time.Second
		}
	case string:
		d, err := parseDuration(t)
		if err == nil {
			return d
		}
	}
	p.errs = append(p.errs, fmt.Sprintf("parameter %q: expected a duration such as \"30m\", \"24h\" or a number of seconds, got %s", name, describe(v)))
	return 0
}

func describe(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return jsonKind(v)
}

// A duration parameter must fit time.Duration (~292 years); beyond it the
// arithmetic wraps around, so such values are refused with a 400.
const (
	maxDurationSeconds = int64(math.MaxInt64 / time.Second)
	maxDurationDays    = int64(math.MaxInt64 / (24 * time.Hour))
)

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > maxDurationSeconds {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	// Vault also accepts days, which Go's parser does not.
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.ParseInt(strings.TrimSuffix(s, "d"), 10, 32); err == nil && n >= 0 {
			if n > maxDurationDays {
				return 0, errors.New("too long")
			}
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("invalid duration")
	}
	return d, nil
}

// Map returns an object parameter with string values.
func (p *params) StringMap(name string) map[string]string {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		p.fail(name, "an object of strings", v)
		return nil
	}
	out := make(map[string]string, len(obj))
	for k, e := range obj {
		s, ok := e.(string)
		if !ok {
			p.fail(name, "an object of strings", v)
			return nil
		}
		out[k] = s
	}
	return out
}

// Err reports every parameter mistake seen so far as one 400.
func (p *params) Err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return apierr.Invalid("%s", strings.Join(p.errs, "; "))
}

// Require adds a mistake for each missing parameter.
func (p *params) Require(names ...string) {
	for _, n := range names {
		v, ok := p.get(n)
		if s, isString := v.(string); !ok || (isString && s == "") {
			p.errs = append(p.errs, fmt.Sprintf("missing required parameter %q", n))
		}
	}
}

// unknownWarning names the parameters no handler read, as Vault does.
func (p *params) unknownWarning() string {
	if p.allUsed {
		return ""
	}
	var unknown []string
	for k := range p.values {
		if !p.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return ""
	}
	sort.Strings(unknown)
	return fmt.Sprintf("Endpoint ignored these unrecognized parameters: [%s]", strings.Join(unknown, " "))
}

func newRequestID() string {
	id, _ := randid.UUID(rand.Reader) // crypto/rand does not fail
	return id
}
