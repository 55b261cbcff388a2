// Package apierr classifies errors that a request can cause, so that the
// domain packages (seal, auth, storage users) can say what went wrong in the
// caller's terms while only the HTTP layer decides which status code that is.
package apierr

import (
	"errors"
	"fmt"
)

// Kind is the class of a request failure.
type Kind int

const (
	// KindInvalid is a client mistake: bad input or wrong state (HTTP 400).
	KindInvalid Kind = iota + 1
	// KindPermissionDenied is a missing, unknown, expired or insufficient token (HTTP 403).
	KindPermissionDenied
	// KindNotFound is a read of something that does not exist (HTTP 404).
	KindNotFound
	// KindUnavailable is a cluster that cannot serve the request now, e.g. sealed (HTTP 503).
	KindUnavailable
	// KindConflict is a request that collides with existing state, e.g. a mount path in use (HTTP 409).
	KindConflict
	// KindPreconditionFailed is a request whose X-Vault-Index this cluster
	// cannot satisfy (HTTP 412).
	KindPreconditionFailed
)

// Error is a failure whose message is safe to show to the client: it never
// carries a secret.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

// Invalid reports a client mistake (400). The message should say what is
// wrong and what to do.
func Invalid(format string, args ...any) error {
	return &Error{Kind: KindInvalid, Message: fmt.Sprintf(format, args...)}
}

// PermissionDenied reports a token problem (403).
func PermissionDenied(format string, args ...any) error {
	return &Error{Kind: KindPermissionDenied, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports a missing object (404).
func NotFound(format string, args ...any) error {
	return &Error{Kind: KindNotFound, Message: fmt.Sprintf(format, args...)}
}

// Unavailable reports a cluster that cannot serve now (503).
func Unavailable(format string, args ...any) error {
	return &Error{Kind: KindUnavailable, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports a collision with existing state (409).
func Conflict(format string, args ...any) error {
	return &Error{Kind: KindConflict, Message: fmt.Sprintf(format, args...)}
}

// PreconditionFailed reports a consistency requirement not met (412).
func PreconditionFailed(format string, args ...any) error {
	return &Error{Kind: KindPreconditionFailed, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain, or 0 when err
// is not a classified request failure (an internal error).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
