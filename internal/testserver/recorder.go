package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/helper/roottoken"
)

// Recorder is an HTTP reverse proxy on 127.0.0.1 in front of one server
// that keeps the body of every request and response. A test points a client
// it does not control (the Terraform provider) at URL and afterwards learns
// the secrets the server handed out — activation tokens, DR operation
// tokens — to prove they ended up nowhere else.
type Recorder struct {
	URL string

	mu        sync.Mutex
	exchanges []Exchange
}

// Exchange is one request and its answer.
type Exchange struct {
	Method, Path string
	Status       int
	Request      []byte
	Response     []byte
}

// Bounds of what a Recorder keeps: the API's answers are small, and a test
// makes a bounded number of calls.
const (
	recordBodyLimit = 1 << 20
	recordMaxCalls  = 20000
)

// Record starts a Recorder in front of target (an http:// URL). It is
// closed when the test ends.
func Record(t testing.TB, target string) *Recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("recorder target %q: %v", target, err)
	}
	r := &Recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(io.LimitReader(resp.Body, recordBodyLimit))
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		reqBody, _ := resp.Request.Context().Value(recordedBodyKey{}).([]byte)
		r.add(Exchange{Method: resp.Request.Method, Path: resp.Request.URL.Path, Status: resp.StatusCode, Request: reqBody, Response: body})
		return err
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, recordBodyLimit))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req = req.WithContext(context.WithValue(req.Context(), recordedBodyKey{}, body))
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

type recordedBodyKey struct{}

func (r *Recorder) add(e Exchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.exchanges) < recordMaxCalls {
		r.exchanges = append(r.exchanges, e)
	}
}

// Exchanges returns what was recorded so far.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.exchanges...)
}

// ActivationTokens returns every activation token the server minted through
// the recorder (sys/replication/{dr,performance}/primary/secondary-token
// answers):
// wrap_info.token, or data.token when it was encrypted to a public key.
func (r *Recorder) ActivationTokens() []string {
	var out []string
	for _, e := range r.Exchanges() {
		if e.Status != http.StatusOK || (!strings.HasSuffix(e.Path, "/sys/replication/dr/primary/secondary-token") &&
			!strings.HasSuffix(e.Path, "/sys/replication/performance/primary/secondary-token")) {
			continue
		}
		var env struct {
			WrapInfo *struct {
				Token string `json:"token"`
			} `json:"wrap_info"`
			Data *struct {
				Token string `json:"token"`
			} `json:"data"`
		}
		if json.Unmarshal(e.Response, &env) != nil {
			continue
		}
		switch {
		case env.WrapInfo != nil && env.WrapInfo.Token != "":
			out = append(out, env.WrapInfo.Token)
		case env.Data != nil && env.Data.Token != "":
			out = append(out, env.Data.Token)
		}
	}
	return out
}

// OperationTokens returns every DR operation token generated through the
// recorder: the encoded token of each completed generate-operation-token
// update, decoded with the one-time password its attempt answered, as the
// client that asked for it does.
func (r *Recorder) OperationTokens() []string {
	return r.generatedTokens("/generate-operation-token/")
}

// RootTokens returns every root token generated through the recorder
// (sys/generate-root), decoded as OperationTokens does.
func (r *Recorder) RootTokens() []string {
	return r.generatedTokens("/sys/generate-root/")
}

// generatedTokens decodes the encoded_token of each completed generation
// under paths containing pathPart with the OTP of the attempt before it.
func (r *Recorder) generatedTokens(pathPart string) []string {
	var out []string
	otp := ""
	for _, e := range r.Exchanges() {
		if e.Status != http.StatusOK || !strings.Contains(e.Path, pathPart) {
			continue
		}
		var st struct {
			OTP          string `json:"otp"`
			EncodedToken string `json:"encoded_token"`
		}
		if json.Unmarshal(e.Response, &st) != nil {
			continue
		}
		if st.OTP != "" {
			otp = st.OTP
		}
		if st.EncodedToken != "" && otp != "" {
			if tok, err := roottoken.DecodeToken(st.EncodedToken, otp, len(otp)); err == nil {
				out = append(out, tok)
			}
		}
	}
	return out
}
