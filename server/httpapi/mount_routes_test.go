package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
)

// TestMountHandlerAfterDisableAndEnable: a handler cached for a mount does
// not serve it once disabled, and the mount enabled again at the same path
// (a new UUID) is served with its own, empty data.
func TestMountHandlerAfterDisableAndEnable(t *testing.T) {
	tc := newUnsealedCluster(t)
	enable := func() {
		t.Helper()
		if code, body := tc.do(http.MethodPost, "/v1/sys/mounts/m", tc.root, `{"type":"kv"}`); code != http.StatusNoContent {
			t.Fatalf("enable m/: %d %s", code, body)
		}
	}
	enable()
	if code, body := tc.do(http.MethodPut, "/v1/m/a", tc.root, `{"v":"1"}`); code != http.StatusNoContent {
		t.Fatalf("PUT m/a: %d %s", code, body)
	}
	if code, body := tc.do(http.MethodDelete, "/v1/sys/mounts/m", tc.root, ""); code != http.StatusNoContent {
		t.Fatalf("disable m/: %d %s", code, body)
	}
	if code, body := tc.do(http.MethodPut, "/v1/m/a", tc.root, `{"v":"2"}`); code != http.StatusNotFound {
		t.Fatalf("PUT m/a on the disabled mount: %d %s, want 404", code, body)
	}
	enable()
	if code, body := tc.do(http.MethodGet, "/v1/m/a", tc.root, ""); code != http.StatusNotFound {
		t.Fatalf("GET m/a on the new mount: %d %s, want 404 (its data is new)", code, body)
	}
	if code, body := tc.do(http.MethodPut, "/v1/m/a", tc.root, `{"v":"3"}`); code != http.StatusNoContent {
		t.Fatalf("PUT m/a on the new mount: %d %s", code, body)
	}
	if code, body := tc.do(http.MethodGet, "/v1/m/a", tc.root, ""); code != http.StatusOK || !strings.Contains(body, `"v":"3"`) {
		t.Fatalf("GET m/a on the new mount: %d %s", code, body)
	}
}

// TestMountHandlerCacheBounded: handlers of many mounts (each enable has a
// new UUID) and of unknown KV v2 segments do not grow the cache past its
// bound.
func TestMountHandlerCacheBounded(t *testing.T) {
	tc := newUnsealedCluster(t)
	a := New(tc.core)
	for i := range mountRouteCacheMax + 100 {
		e := &mounts.Entry{Path: "m/", Type: mounts.TypeKV, UUID: strconv.Itoa(i)}
		if a.mountHandler(http.MethodPut, e, "k") == nil {
			t.Fatal("no PUT handler for a KV v1 mount")
		}
	}
	v2 := &mounts.Entry{Path: "v2/", Type: mounts.TypeKV, UUID: "v2", Options: map[string]string{"version": "2"}}
	for i := range 100 {
		if a.mountHandler(http.MethodGet, v2, "unknown"+strconv.Itoa(i)+"/k") == nil {
			t.Fatal("no handler (Vault's 404) for an unknown KV v2 segment")
		}
	}
	n := 0
	a.mountRoutes.m.Range(func(_, _ any) bool { n++; return true })
	if n == 0 || n > mountRouteCacheMax {
		t.Fatalf("cache holds %d handlers, want 1..%d", n, mountRouteCacheMax)
	}
	if a.mountHandler("BREW", v2, "data/k") != nil {
		t.Fatal("handler for an unsupported method")
	}
}
