package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

// Most bodies are small and well formed (a KV write is one short object).
// For those, decoding the whole document at once costs a fraction of the
// token-by-token walk that the limits need for hostile input: the server's
// profile under `make bench` had readBody at half of the handler's CPU. The
// fast path reads a body of known, small length, proves with one byte scan
// that it stays within every limit, and decodes it in one call; whatever it
// cannot prove (a limit reached, invalid JSON, not an object) goes through
// the token walk over the same bytes, so answers and errors are unchanged.

// fastBodyBytes is the largest body the fast path takes; it also bounds
// the buffer it allocates.
const fastBodyBytes = 64 << 10

// readSmallBody handles a body whose Content-Length is in (0,
// fastBodyBytes]. It returns the decoded object, or hands the bytes read
// (followed by any rest of the body) to decodeStream.
func readSmallBody(w http.ResponseWriter, r *http.Request, lim bodyLimits) (map[string]any, error) {
	body := http.MaxBytesReader(w, r.Body, lim.maxBytes)
	buf := make([]byte, r.ContentLength)
	n, err := io.ReadFull(body, buf)
	if err == nil {
		if obj, ok := decodeSmall(buf, lim); ok {
			return obj, nil
		}
	}
	return decodeStream(io.MultiReader(bytes.NewReader(buf[:n]), body), lim)
}

// decodeSmall decodes buf when a scan proves it within lim and it is a JSON
// object (or null, an empty object); ok is false otherwise.
func decodeSmall(buf []byte, lim bodyLimits) (map[string]any, bool) {
	if !withinLimits(buf, lim) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || !onlyWhitespace(buf[dec.InputOffset():]) {
		return nil, false
	}
	switch obj := v.(type) {
	case nil:
		return map[string]any{}, true
	case map[string]any:
		return obj, true
	}
	return nil, false
}

// withinLimits reports whether buf, if it is valid JSON, stays within lim:
// it bounds from above the nesting, the number of values (one per member
// value, array element and the document: at most 1 + colons + commas +
// opening brackets) and the decoded length of every string (an invalid
// UTF-8 byte decodes to three bytes, so at most three times its raw length).
func withinLimits(buf []byte, lim bodyLimits) bool {
	depth, maxDepth, values, str, maxStr := 0, 0, 1, 0, 0
	inString, escaped := false, false
	for _, c := range buf {
		if inString {
			str++
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				maxStr = max(maxStr, str)
			}
			continue
		}
		switch c {
		case '"':
			inString, str = true, 0
		case '{', '[':
			depth++
			maxDepth = max(maxDepth, depth)
			values++
		case '}', ']':
			depth--
		case ':', ',':
			values++
		}
	}
	if maxDepth > lim.maxDepth || values > lim.maxValues {
		return false
	}
	return lim.maxString == 0 || 3*maxStr <= lim.maxString
}

// onlyWhitespace reports whether b holds nothing but JSON whitespace.
func onlyWhitespace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}
