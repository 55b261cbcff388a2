package httpapi

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/julienschmidt/httprouter"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/mounts"
)

// mountRouteCacheMax bounds the cached mount handlers: mounts come and go
// over a server's life (each enable has a new UUID), so past this many the
// cache starts again empty.
const mountRouteCacheMax = 4096

// mountRouteCache keeps the handler built for a mount and a method, so a
// request to a mount does not build its route, closures and serve handler
// again. A route depends only on its key: its handlers look the mount up
// again under the table's lock on every request and compare UUID and path,
// so a cached handler answers exactly as a new one would, and a disabled,
// moved or re-enabled mount (new UUID or path) gets a new key.
type mountRouteCache struct {
	m sync.Map // mountRouteKey -> httprouter.Handle
	n atomic.Int64
}

type mountRouteKey struct {
	method, uuid, path string
	kvv2               bool
	op                 string // KV v2: the first segment after the mount
}

// kvv2Ops are the KV v2 segments whose handlers are cached; any other
// segment (a 404, user input) is built per request so it cannot fill the
// cache.
var kvv2Ops = map[string]bool{"config": true, "data": true, "metadata": true, "delete": true, "undelete": true, "destroy": true}

// mountHandler returns the handler of method on mount e for the part of
// the path after the mount, or nil when the mount has no such method.
func (a *API) mountHandler(method string, e *mounts.Entry, rest string) httprouter.Handle {
	key := mountRouteKey{method: method, uuid: e.UUID, path: e.Path, kvv2: e.Type == mounts.TypeKV && e.KVVersion() == 2}
	if key.kvv2 {
		key.op = kvv2Op(rest)
		if !kvv2Ops[key.op] {
			return a.buildMountHandler(key, e, rest)
		}
	}
	if h, ok := a.mountRoutes.m.Load(key); ok {
		return h.(httprouter.Handle) //nolint:forcetypeassert // only Handles are stored
	}
	h := a.buildMountHandler(key, e, rest)
	if h == nil {
		return nil // an unsupported method (user input) is not cached
	}
	if a.mountRoutes.n.Add(1) > mountRouteCacheMax {
		a.mountRoutes.m.Clear()
		a.mountRoutes.n.Store(1)
	}
	a.mountRoutes.m.Store(key, h)
	return h
}

func (a *API) buildMountHandler(key mountRouteKey, e *mounts.Entry, rest string) httprouter.Handle {
	var rt *route
	if key.kvv2 {
		rt = a.kvv2Route(key.method, e, rest)
	} else {
		rt = a.kvRoute(key.method, e)
	}
	if rt == nil {
		return nil
	}
	return a.serve(rt)
}

// kvv2Op is the KV v2 operation segment of the path after the mount.
func kvv2Op(rest string) string {
	if rest == "metadata" {
		return "metadata"
	}
	op, _, _ := strings.Cut(rest, "/")
	return op
}
