package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ResponseError is a non-success HTTP answer from the cluster. Its message
// carries the method, path, status and the server's error strings, never a
// token: any secret sent with the request is redacted even if echoed.
type ResponseError struct {
	Method     string
	Path       string // logical path without /v1/
	StatusCode int
	Errors     []string
}

func newResponseError(method, path string, code int, body []byte, secrets []string) *ResponseError {
	e := &ResponseError{Method: method, Path: path, StatusCode: code}
	var parsed struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &parsed) == nil {
		for _, m := range parsed.Errors {
			e.Errors = append(e.Errors, redact(m, secrets))
		}
	} else if s := strings.TrimSpace(string(body)); s != "" {
		if len(s) > 512 {
			s = s[:512] + "…"
		}
		e.Errors = []string{redact(s, secrets)}
	}
	return e
}

// Error implements error.
func (e *ResponseError) Error() string {
	msg := "no error message"
	if len(e.Errors) > 0 {
		msg = strings.Join(e.Errors, "; ")
	}
	return fmt.Sprintf("%s /v1/%s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), msg)
}

// Message is the server's error strings joined, without method and path.
func (e *ResponseError) Message() string { return strings.Join(e.Errors, "; ") }

// Sealed reports whether the cluster answered that it is sealed.
func (e *ResponseError) Sealed() bool {
	return e.StatusCode == http.StatusServiceUnavailable && strings.Contains(strings.ToLower(e.Message()), "sealed")
}

// ConnectionError means no HTTP answer came back (refused, DNS, TLS, timeout).
type ConnectionError struct {
	Address string
	Method  string
	Path    string
	Err     error
}

// Error implements error.
func (e *ConnectionError) Error() string {
	return fmt.Sprintf("%s %s/v1/%s: %v", e.Method, e.Address, e.Path, e.Err)
}

// Unwrap returns the transport error.
func (e *ConnectionError) Unwrap() error { return e.Err }

// StatusCode returns the HTTP status of a *ResponseError in err's chain, or 0.
func StatusCode(err error) int {
	var re *ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// IsConnectionError reports whether err means the cluster could not be reached.
func IsConnectionError(err error) bool {
	var ce *ConnectionError
	return errors.As(err, &ce)
}

// IsSealed reports whether err is the cluster's "Vault is sealed" answer.
func IsSealed(err error) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.Sealed()
}

// IsPermissionDenied reports whether err is a 403.
func IsPermissionDenied(err error) bool { return StatusCode(err) == http.StatusForbidden }

// IsPromotionBehind reports whether err is promote's documented 503: the
// secondary has not caught up with its primary and force was not set. The
// message (ResponseError.Message) says how far behind it is.
func IsPromotionBehind(err error) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusServiceUnavailable && !re.Sealed() &&
		strings.HasSuffix(re.Path, "/secondary/promote")
}

// ErrGenerationInProgress is returned by GenerateDROperationToken when an
// operation token generation is already running on the cluster: its OTP is
// unknown to us, so it cannot be finished here.
var ErrGenerationInProgress = errors.New("a DR operation token generation is already in progress on this cluster")
