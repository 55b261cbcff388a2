package httpapi

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// FuzzRequestBody: any body either decodes into parameters within the
// limits or is refused with a 400 (or a 413 over the size limit); reading
// any parameter as any type never panics.
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []string{``, `{}`, `null`, `[1]`, `{"ttl":"30m","policies":"a,b","renewable":"true","num_uses":3}`,
		`{"meta":{"a":"b"},"secret_shares":"5"}`, `{"a":`, `{"ttl":1e400}`, `{} {}`, `{"policies":[1,"x"]}`,
		`{"a":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`,
		`{"key":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`, `{"a":{"b":{"c":[{"d":null}]}}}`, `{"k":"\u0000\ud800"}`,
		`{"k":"\xff\xfe"}`, `{"a":1,"a":2}`, `  {"x":"y"}  `, `"s"`, `{"k":"` + strings.Repeat("\\\"", 700) + `"}`} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, body string, unauth bool) {
		lim := authedBodyLimits
		if unauth {
			lim = unauthBodyLimits
		}
		// Small enough limits that the fuzzer reaches them.
		lim.maxDepth, lim.maxValues = 8, 64
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", "/v1/secret/x", strings.NewReader(body))
		obj, err := readBody(rec, req, lim)
		// The fast path for small bodies (body_fast.go) answers exactly as
		// the token walk does.
		if len(body) > 0 {
			slow, slowErr := decodeStream(strings.NewReader(body), lim)
			if (err == nil) != (slowErr == nil) || (err != nil && err.Error() != slowErr.Error()) || !reflect.DeepEqual(obj, slow) {
				t.Fatalf("body %q: readBody = %v, %v; token walk = %v, %v", body, obj, err, slow, slowErr)
			}
		}
		if err != nil {
			var tooLarge *bodyTooLargeError
			if !errors.As(err, &tooLarge) && apierr.KindOf(err) != apierr.KindInvalid {
				t.Fatalf("body %q: error %v is not a 400 or 413", body, err)
			}
			return
		}
		if depth, values := shape(obj); depth > lim.maxDepth || values > lim.maxValues {
			t.Fatalf("body %q accepted with depth %d and %d values, over the limits", body, depth, values)
		}
		p := newParams(obj, url.Values{"list": {"true"}, "ttl": {"1h"}})
		for name := range obj {
			p.String(name)
			p.Int(name, 0)
			p.Bool(name, false)
			p.OptionalBool(name)
			p.Strings(name)
			p.Duration(name)
			p.StringMap(name)
		}
		if err := p.Err(); err != nil && apierr.KindOf(err) != apierr.KindInvalid {
			t.Fatalf("parameter error %v is not a 400", err)
		}
	})
}

// shape is the nesting depth and value count of a decoded value, counted
// as the decoder counts them.
func shape(v any) (depth, values int) {
	switch t := v.(type) {
	case map[string]any:
		values = 1
		for _, e := range t {
			d, n := shape(e)
			depth, values = max(depth, d), values+n
		}
		return depth + 1, values
	case []any:
		values = 1
		for _, e := range t {
			d, n := shape(e)
			depth, values = max(depth, d), values+n
		}
		return depth + 1, values
	}
	return 0, 1
}
