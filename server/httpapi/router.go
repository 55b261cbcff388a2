// Package httpapi translates Vault's HTTP API into calls on a core.Core: it
// decodes requests, checks seal state, tokens and ACLs, and encodes Vault's
// envelopes and errors. The rules live in the packages it calls.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/core"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/ha"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/pathcheck"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// methodList is Vault's LIST verb; clients may also send GET with ?list=true.
const methodList = "LIST"

type authMode int

const (
	authToken              authMode = iota // X-Vault-Token required and checked against the ACL
	authNone                               // no token needed
	authTokenOnly                          // any valid token; the handler limits what it reveals
	authDROperation                        // the body's dr_operation_token; X-Vault-Token is ignored
	authTokenOrDROperation                 // a token, or else a dr_operation_token
)

// request is what a handler sees.
type request struct {
	ctx     context.Context
	http    *http.Request
	path    string // logical path, without /v1/
	vars    httprouter.Params
	params  *params
	body    map[string]any
	token   *auth.Token
	tokenID string
}

type handlerFunc func(r *request) (response, error)

// route is one method on one path with the checks it needs.
type route struct {
	method string
	path   string // httprouter pattern under /v1/
	auth   authMode
	sudo   bool
	// sealed routes are served while the cluster is sealed.
	sealed bool
	// dr routes are served on a DR secondary; all others answer 400 there.
	dr bool
	// exists, when set, decides create (false) versus update (true) for the ACL.
	exists func(r *request) (bool, error)
	handle handlerFunc
}

// API serves Vault's HTTP API for one cluster.
type API struct {
	core  *core.Core
	log   *slog.Logger
	stats *requestStats
	ha    *ha.Elector // nil without HA
	// mountRoutes caches the handlers of mount paths (mount_routes.go).
	mountRoutes mountRouteCache
}

// New returns the API of c.
func New(c *core.Core) *API {
	return &API{core: c, log: c.Log, stats: newRequestStats()}
}

// Handler returns the HTTP handler with every route.
func (a *API) Handler() http.Handler {
	h := a.handler(a.routes())
	// A performance primary runs its secondaries' forwarded writes here.
	a.core.Perf.SetForwardHandler(h)
	return h
}

func (a *API) handler(routes []*route) http.Handler {
	router := httprouter.New()
	// Vault does not redirect; a redirect would hide a wrong path from clients.
	router.RedirectTrailingSlash = false
	router.RedirectFixedPath = false
	router.HandleMethodNotAllowed = true
	router.HandleOPTIONS = false
	router.NotFound = http.HandlerFunc(a.notFound)
	router.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not supported on %s", r.Method, r.URL.Path))
	})
	router.PanicHandler = a.recovered

	byPath := map[string]map[string]*route{}
	var order []string
	for _, rt := range routes {
		if byPath[rt.path] == nil {
			byPath[rt.path] = map[string]*route{}
			order = append(order, rt.path)
		}
		byPath[rt.path][rt.method] = rt
	}
	for _, path := range order {
		methods := byPath[path]
		list := methods[methodList]
		get := methods[http.MethodGet]
		for method, rt := range methods {
			if method == http.MethodGet {
				continue
			}
			router.Handle(method, "/v1/"+path, a.serve(rt))
			if method == http.MethodPut {
				router.Handle(http.MethodPost, "/v1/"+path, a.serve(rt))
			}
		}
		if get != nil || list != nil {
			router.Handle(http.MethodGet, "/v1/"+path, a.serveGet(get, list))
		}
	}
	return a.logged(router)
}

// serveGet sends GET ?list=true to the LIST route, as Vault does.
func (a *API) serveGet(get, list *route) httprouter.Handle {
	var getH, listH httprouter.Handle
	if get != nil {
		getH = a.serve(get)
	}
	if list != nil {
		listH = a.serve(list)
	}
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if listH != nil && isListQuery(r) {
			listH(w, r, ps)
			return
		}
		if getH == nil {
			writeErrors(w, http.StatusMethodNotAllowed, fmt.Sprintf("GET is not supported on %s; use LIST or GET with ?list=true", r.URL.Path))
			return
		}
		getH(w, r, ps)
	}
}

func isListQuery(r *http.Request) bool {
	v := r.URL.Query().Get("list")
	return v == "true" || v == "1"
}

// serve runs the checks a route needs, then its handler.
func (a *API) serve(rt *route) httprouter.Handle {
	name := rt.method + " " + rt.path
	return func(rw http.ResponseWriter, hr *http.Request, ps httprouter.Params) {
		start := time.Now()
		// One allocation for both: they live exactly as long as the request.
		st := &struct {
			w   statusRecorder
			req request
		}{
			w:   statusRecorder{ResponseWriter: rw, status: http.StatusOK},
			req: request{ctx: hr.Context(), http: hr, path: strings.TrimPrefix(hr.URL.Path, "/v1/"), vars: ps},
		}
		w, req := &st.w, &st.req
		defer func() { a.stats.observe(name, w.status, time.Since(start)) }()
		if err := pathcheck.Validate(req.path); err != nil {
			writeErrors(w, http.StatusBadRequest, "invalid request path: "+err.Error())
			return
		}
		if !rt.sealed && a.core.Seal.Sealed() {
			writeErrors(w, http.StatusServiceUnavailable, "Vault is sealed")
			return
		}
		if !rt.dr && a.core.Repl.Mode() == replication.ModeSecondary {
			writeErrors(w, http.StatusBadRequest, errDRSecondary)
			return
		}
		inconsistent, err := a.awaitIndex(req)
		if err != nil {
			a.fail(w, hr, err)
			return
		}
		if err := a.admit(w, req, rt); err != nil {
			a.fail(w, hr, err)
			return
		}
		if a.perfSecondaryForwards(rt, req, inconsistent) {
			a.forward(w, req)
			return
		}
		resp, err := rt.handle(req)
		if err != nil {
			a.fail(w, hr, err)
			return
		}
		if l, ok := resp.(*logical); ok {
			if warn := req.params.unknownWarning(); warn != "" {
				l.Warnings = append(l.Warnings, warn)
			}
		}
		resp.write(w, strings.HasPrefix(req.path, "sys/"))
	}
}

// errDRSecondary is Vault's answer to a normal request on a DR secondary.
const errDRSecondary = "path disabled in replication DR secondary mode"

// admit authenticates the request and decodes its body, cheapest refusal
// first: routes that need a token decide token and ACL before a byte of the
// body is read; routes open to anyone, or authorised by a token inside the
// body, read it under the small unauthenticated limits first.
func (a *API) admit(w http.ResponseWriter, req *request, rt *route) error {
	if _, ok := replication.ForwardedFrom(req.ctx); ok {
		// Authorised by the performance secondary that forwarded it.
		return a.readForwarded(w, req)
	}
	tokenFirst := rt.auth == authToken || rt.auth == authTokenOnly
	lim := unauthBodyLimits
	if tokenFirst {
		if err := a.authorize(req, rt); err != nil {
			return err
		}
		lim = authedBodyLimits
	}
	body, err := readBody(w, req.http, lim)
	if err != nil {
		return err
	}
	query := req.http.URL.Query() // parsed once: each call parses again
	if err := checkQuery(query, lim); err != nil {
		return err
	}
	req.body = body
	req.params = newParams(body, query)
	if tokenFirst {
		return nil
	}
	return a.authenticate(req, rt)
}

// authenticate applies the route's auth mode.
func (a *API) authenticate(req *request, rt *route) error {
	switch rt.auth {
	case authNone:
		return nil
	case authDROperation:
		return a.checkDROperationToken(req)
	case authTokenOrDROperation:
		if req.params.String("dr_operation_token") != "" {
			return a.checkDROperationToken(req)
		}
	}
	return a.authorize(req, rt)
}

// authorize resolves the token and checks the ACL for the route's operation.
func (a *API) authorize(req *request, rt *route) error {
	id := req.http.Header.Get("X-Vault-Token")
	if id == "" {
		if h := req.http.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			id = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		}
	}
	if id == "" {
		return apierr.PermissionDenied("permission denied")
	}
	tok, err := a.core.Auth.Lookup(req.ctx, id)
	if err != nil {
		return err
	}
	req.token, req.tokenID = tok, id
	if rt.auth == authTokenOnly {
		return nil
	}
	op, err := operationOf(req, rt)
	if err != nil {
		return err
	}
	path := req.path
	if op == auth.OpList && !strings.HasSuffix(path, "/") {
		path += "/"
	}
	return a.core.Auth.Authorize(req.ctx, tok, path, op, rt.sudo)
}

func operationOf(req *request, rt *route) (auth.Operation, error) {
	switch rt.method {
	case http.MethodGet, http.MethodHead:
		return auth.OpRead, nil
	case methodList:
		return auth.OpList, nil
	case http.MethodDelete:
		return auth.OpDelete, nil
	case http.MethodPatch:
		return auth.OpPatch, nil
	}
	// A root token may do anything, so create and update need not be told
	// apart (that costs a read).
	if rt.exists != nil && !slices.Contains(req.token.Policies, "root") {
		ok, err := rt.exists(req)
		if err != nil {
			return "", err
		}
		if !ok {
			return auth.OpCreate, nil
		}
	}
	return auth.OpUpdate, nil
}

// fail writes err as Vault does: classified errors keep their status and
// message; anything else is an internal error whose detail goes to the log.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *bodyTooLargeError
	if errors.As(err, &tooLarge) {
		writeErrors(w, http.StatusRequestEntityTooLarge, tooLarge.Error())
		return
	}
	var e *apierr.Error
	if errors.As(err, &e) {
		switch e.Kind {
		case apierr.KindInvalid:
			writeErrors(w, http.StatusBadRequest, e.Message)
		case apierr.KindPermissionDenied:
			writeErrors(w, http.StatusForbidden, e.Message)
		case apierr.KindNotFound:
			if e.Message == "" {
				writeErrors(w, http.StatusNotFound)
			} else {
				writeErrors(w, http.StatusNotFound, e.Message)
			}
		case apierr.KindUnavailable:
			writeErrors(w, http.StatusServiceUnavailable, e.Message)
		case apierr.KindConflict:
			writeErrors(w, http.StatusConflict, e.Message)
		case apierr.KindPreconditionFailed:
			writeErrors(w, http.StatusPreconditionFailed, e.Message)
		default:
			writeErrors(w, http.StatusInternalServerError, "internal error")
		}
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the client went away; nobody reads the answer
	}
	if errors.Is(err, storage.ErrFenced) {
		// An HA node that lost the active role: nothing was written.
		writeErrors(w, http.StatusServiceUnavailable, "this node is no longer the active node of its HA cluster; nothing was written, retry")
		return
	}
	a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeErrors(w, http.StatusInternalServerError, "internal error; the server log has the details")
}

func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	if a.serveMount(w, r) {
		return
	}
	if a.core.Seal.Sealed() && strings.HasPrefix(r.URL.Path, "/v1/") {
		writeErrors(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	if a.core.Repl.Mode() == replication.ModeSecondary {
		writeErrors(w, http.StatusBadRequest, errDRSecondary)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	if strings.HasPrefix(path, "sys/") {
		writeErrors(w, http.StatusNotFound, "unsupported path")
		return
	}
	writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
}

// recovered answers a handler panic with a 500 and logs where it happened.
// The panic value is not logged: it could hold request data.
func (a *API) recovered(w http.ResponseWriter, r *http.Request, v any) {
	a.log.Error("panic while serving a request", "method", r.Method, "path", r.URL.Path, "panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
	writeErrors(w, http.StatusInternalServerError, "internal error; the server log has the details")
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// logged logs each request's method, path, status and duration at debug
// level; never headers or bodies, which carry tokens and secrets.
func (a *API) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Checked first: with debug logging off neither the recorder nor the
		// log arguments (boxed) are allocated.
		if !a.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		a.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
	})
}
