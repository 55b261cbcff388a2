package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// Request body limits. Bodies are decoded token by token straight from the
// connection, so nothing is buffered beyond the token being read, and each
// limit is checked as soon as it is crossed: a hostile body costs at most
// what the limits allow, however large it claims to be.
//
// Measured by TestBodyMemory: decoding allocates at most
// bodyMemoryMultiple × the body size plus bodyMemoryOverhead in total, and
// total allocation bounds the peak heap. A 32 MiB string costs ~5× (the
// decoder's buffer grows by doubling until the whole token fits, then the
// string is copied out); small values cost ~200-400 bytes each however
// short their text, which maxJSONValues caps at ~13 MiB.
const (
	// maxBodyBytes bounds a request body, as Vault's default
	// max_request_size (32 MiB). Over it: 413.
	maxBodyBytes = 32 << 20
	// maxJSONDepth bounds the nesting of arrays and objects. Vault's
	// max_json_depth defaults to 500; no request this API serves needs more
	// than a few levels, and secrets rarely nest beyond ten.
	maxJSONDepth = 64
	// maxJSONValues bounds the values in one body: every object member,
	// array element and the top-level object count one. A value costs the
	// decoder 200-400 bytes even when its text is 2 ("0,"), so this bounds
	// the decoded tree at ~13 MiB whatever the body size. No request this
	// API serves comes near it; larger data belongs in one string value.
	maxJSONValues = 1 << 15

	// maxUnauthBodyBytes bounds the body of a request read before the
	// caller is known (sys/unseal, sys/init, op-token attempt/update,
	// wrapping lookup/unwrap, and DR routes authorised by a body token).
	// Their largest legitimate body is an activation token and a CA path.
	maxUnauthBodyBytes = 64 << 10
	// maxUnauthStringBytes bounds each string (keys too) in such a body;
	// key shares, nonces, OTPs and tokens are far shorter.
	maxUnauthStringBytes = 4 << 10

	// bodyMemoryMultiple and bodyMemoryOverhead state the decoder's
	// measured memory bound (see TestBodyMemory).
	bodyMemoryMultiple = 6
	bodyMemoryOverhead = 16 << 20
)

// bodyLimits bound what decoding one body may cost.
type bodyLimits struct {
	maxBytes  int64 // body bytes; over it: 413
	maxDepth  int   // nesting of arrays and objects
	maxValues int   // values in the document
	maxString int   // bytes in one string or key; 0: no limit but maxBytes
	scope     string
}

var (
	// authedBodyLimits apply once the token and ACL allowed the request.
	authedBodyLimits = bodyLimits{maxBytes: maxBodyBytes, maxDepth: maxJSONDepth, maxValues: maxJSONValues}
	// unauthBodyLimits apply to bodies read before the caller is known.
	unauthBodyLimits = bodyLimits{
		maxBytes: maxUnauthBodyBytes, maxDepth: maxJSONDepth, maxValues: maxJSONValues,
		maxString: maxUnauthStringBytes, scope: " for unauthenticated endpoints",
	}
)

// bodyTooLargeError is a body over its size limit: a 413.
type bodyTooLargeError struct{ limit int64 }

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("request body is larger than the %s limit: send less data per request", sizeText(e.limit))
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d-byte", n)
}

// readBody decodes a JSON object body within lim. An empty body and a JSON
// null are an empty object (the Go client sends null for "no data").
func readBody(w http.ResponseWriter, r *http.Request, lim bodyLimits) (map[string]any, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return map[string]any{}, nil
	}
	if r.ContentLength > lim.maxBytes {
		return nil, &bodyTooLargeError{limit: lim.maxBytes} // refused before reading a byte
	}
	if r.ContentLength > 0 && r.ContentLength <= fastBodyBytes {
		return readSmallBody(w, r, lim) // body_fast.go
	}
	return decodeStream(http.MaxBytesReader(w, r.Body, lim.maxBytes), lim)
}

// decodeStream decodes a JSON object from rd token by token within lim.
func decodeStream(rd io.Reader, lim bodyLimits) (map[string]any, error) {
	dec := json.NewDecoder(rd)
	dec.UseNumber()
	d := &boundedDecoder{dec: dec, lim: lim}
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, d.fail(err)
	}
	v, err := d.value(tok, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &bodyTooLargeError{limit: lim.maxBytes}
		}
		return nil, apierr.Invalid("failed to parse JSON input: unexpected data after the JSON object")
	}
	if v == nil {
		return map[string]any{}, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, apierr.Invalid("request body must be a JSON object, got %s", jsonKind(v))
	}
	return obj, nil
}

// boundedDecoder builds the body's value from a token stream, counting
// values and depth as it goes. Its recursion is bounded by lim.maxDepth.
type boundedDecoder struct {
	dec    *json.Decoder
	lim    bodyLimits
	values int
}

// value decodes the value that starts with tok, at nesting depth (the
// top-level value is at 0).
func (d *boundedDecoder) value(tok json.Token, depth int) (any, error) {
	d.values++
	if d.values > d.lim.maxValues {
		return nil, apierr.Invalid("request body has more than %d JSON values (the limit%s); send fewer fields or elements", d.lim.maxValues, d.lim.scope)
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth+1 > d.lim.maxDepth {
			return nil, apierr.Invalid("request body nests JSON arrays and objects deeper than the limit of %d levels", d.lim.maxDepth)
		}
		if t == '{' {
			return d.object(depth + 1)
		}
		return d.array(depth + 1)
	case string:
		return t, d.checkString(t)
	default: // json.Number, bool, nil
		return t, nil
	}
}

func (d *boundedDecoder) object(depth int) (map[string]any, error) {
	obj := map[string]any{}
	for {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		if tok == json.Delim('}') {
			return obj, nil
		}
		key, ok := tok.(string)
		if !ok { // the decoder only yields strings in key position
			return nil, apierr.Invalid("failed to parse JSON input: object key is not a string")
		}
		if err := d.checkString(key); err != nil {
			return nil, err
		}
		if tok, err = d.next(); err != nil {
			return nil, err
		}
		v, err := d.value(tok, depth)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
}

func (d *boundedDecoder) array(depth int) ([]any, error) {
	arr := []any{}
	for {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		if tok == json.Delim(']') {
			return arr, nil
		}
		v, err := d.value(tok, depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
}

// next reads a token inside a structure, where the end of input is an error.
func (d *boundedDecoder) next() (json.Token, error) {
	tok, err := d.dec.Token()
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, d.fail(err)
	}
	return tok, nil
}

func (d *boundedDecoder) checkString(s string) error {
	if d.lim.maxString > 0 && len(s) > d.lim.maxString {
		return apierr.Invalid("request body has a string of %d bytes; the limit%s is %d bytes", len(s), d.lim.scope, d.lim.maxString)
	}
	return nil
}

// fail classifies a read or syntax error: over the size limit is a 413,
// anything else the client's malformed body.
func (d *boundedDecoder) fail(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &bodyTooLargeError{limit: d.lim.maxBytes}
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
		return apierr.Invalid("failed to parse JSON input: %v; send a JSON object such as {\"key\": \"value\"}", err)
	}
	return apierr.Invalid("failed to read request body: %v", err)
}

// checkQuery applies the per-string cap to query parameters, which handlers
// read like body fields.
func checkQuery(q url.Values, lim bodyLimits) error {
	if lim.maxString == 0 {
		return nil
	}
	for k, vs := range q {
		for _, v := range vs {
			if len(k) > lim.maxString || len(v) > lim.maxString {
				return apierr.Invalid("query parameter of %d bytes; the limit%s is %d bytes", max(len(k), len(v)), lim.scope, lim.maxString)
			}
		}
	}
	return nil
}
