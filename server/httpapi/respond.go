package httpapi

import (
	"encoding/json"
	"net/http"
)

// response is what a handler hands back; the router writes it.
type response interface {
	write(w http.ResponseWriter, sys bool)
}

// logical is Vault's standard envelope for logical and sys paths.
type logical struct {
	Status        int
	Data          map[string]any
	Auth          map[string]any
	WrapInfo      map[string]any
	Warnings      []string
	LeaseDuration int
	Renewable     bool
}

func (l *logical) write(w http.ResponseWriter, sys bool) {
	body := map[string]any{
		"request_id":     newRequestID(),
		"lease_id":       "",
		"renewable":      l.Renewable,
		"lease_duration": l.LeaseDuration,
		"data":           nilIfEmpty(l.Data),
		"wrap_info":      nilIfEmpty(l.WrapInfo),
		"warnings":       nilIfEmptySlice(l.Warnings),
		"auth":           nilIfEmpty(l.Auth),
	}
	if l.WrapInfo != nil {
		body["data"] = nil
	}
	// Vault copies sys data to the top level; some clients read it there.
	if sys && l.WrapInfo == nil {
		for k, v := range l.Data {
			if _, taken := body[k]; !taken {
				body[k] = v
			}
		}
	}
	status := l.Status
	if status == 0 {
		status = http.StatusOK
	}
	writeJSON(w, status, body)
}

func nilIfEmpty(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func nilIfEmptySlice(s []string) any {
	if len(s) == 0 {
		return nil
	}
	return s
}

// raw is a bare JSON object without the envelope (seal-status, health, init...).
type raw struct {
	Status int
	Body   any
}

func (r *raw) write(w http.ResponseWriter, _ bool) {
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	writeJSON(w, status, r.Body)
}

// noContent is a write that returns nothing.
type noContent struct{}

func (noContent) write(w http.ResponseWriter, _ bool) { w.WriteHeader(http.StatusNoContent) }

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeErrors answers in Vault's error form. Messages must never carry secrets.
func writeErrors(w http.ResponseWriter, status int, messages ...string) {
	if messages == nil {
		messages = []string{}
	}
	writeJSON(w, status, map[string]any{"errors": messages})
}
