package httpapi

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// FuzzRequestBody: any body either decodes into parameters or is refused
// with a 400; reading any parameter as any type never panics.
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []string{``, `{}`, `null`, `[1]`, `{"ttl":"30m","policies":"a,b","renewable":"true","num_uses":3}`,
		`{"meta":{"a":"b"},"secret_shares":"5"}`, `{"a":`, `{"ttl":1e400}`, `{} {}`, `{"policies":[1,"x"]}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", "/v1/secret/x", strings.NewReader(body))
		obj, err := readBody(rec, req)
		if err != nil {
			if apierr.KindOf(err) != apierr.KindInvalid {
				t.Fatalf("body %q: error %v is not a 400", body, err)
			}
			return
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
