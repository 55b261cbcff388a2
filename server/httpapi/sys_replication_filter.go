package httpapi

import "github.com/vaultrepl/terraform-provider-vaultrepl/server/replication"

// Paths filters of performance secondaries (Vault's
// sys/replication/performance/primary/paths-filter/:id).

func (a *API) writePathsFilter(r *request) (response, error) {
	p := r.params
	p.Require("mode", "paths")
	mode, paths := p.String("mode"), p.Strings("paths")
	if err := p.Err(); err != nil {
		return nil, err
	}
	f, err := replication.NewPathsFilter(mode, paths)
	if err != nil {
		return nil, err
	}
	if _, err := a.core.Perf.SetPathsFilter(r.ctx, r.vars.ByName("id"), f); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) readPathsFilter(r *request) (response, error) {
	return fromResult(a.core.Perf.PathsFilterOf(r.vars.ByName("id")))
}

func (a *API) deletePathsFilter(r *request) (response, error) {
	if err := a.core.Perf.DeletePathsFilter(r.ctx, r.vars.ByName("id")); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

// readDynamicFilter is Vault's primary/dynamic-filter/:id: the mounts the
// secondary's paths filter leaves out now.
func (a *API) readDynamicFilter(r *request) (response, error) {
	return fromResult(a.core.Perf.DynamicFilterOf(r.ctx, r.vars.ByName("id")))
}
