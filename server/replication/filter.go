package replication

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// Paths filter modes, as Vault names them.
const (
	FilterAllow = "allow"
	FilterDeny  = "deny"
)

// Bounds on a paths filter: it is evaluated for every streamed entry.
const (
	maxFilterPaths      = 1000
	maxFilterPathLength = 512
)

// PathsFilter is what a performance primary sends one secondary:
// "allow" replicates only the listed mounts, "deny" all but them. Paths
// are mount paths with a trailing slash.
type PathsFilter struct {
	Mode  string   `json:"mode"`
	Paths []string `json:"paths"`
}

// NewPathsFilter checks and normalises a filter from the API.
func NewPathsFilter(mode string, paths []string) (*PathsFilter, error) {
	if mode != FilterAllow && mode != FilterDeny {
		return nil, apierr.Invalid("parameter \"mode\" must be %q or %q, not %q", FilterAllow, FilterDeny, mode)
	}
	if len(paths) == 0 {
		return nil, apierr.Invalid("parameter \"paths\" is required: the mount paths this filter %ss", mode)
	}
	if len(paths) > maxFilterPaths {
		return nil, apierr.Invalid("parameter \"paths\" lists %d mounts; at most %d are allowed", len(paths), maxFilterPaths)
	}
	f := &PathsFilter{Mode: mode, Paths: make([]string, 0, len(paths))}
	for _, p := range paths {
		p = strings.Trim(strings.TrimSpace(p), "/")
		if p == "" || len(p) > maxFilterPathLength || strings.ContainsAny(p, "*+\x00") {
			return nil, apierr.Invalid("parameter \"paths\": %q is not a mount path (like \"secret/\"); globs are not allowed", truncate(p, 64))
		}
		if p == "sys" || strings.HasPrefix(p, "sys/") {
			return nil, apierr.Invalid("parameter \"paths\": sys/ cannot be filtered; it always replicates")
		}
		f.Paths = append(f.Paths, p+"/")
	}
	slices.Sort(f.Paths)
	f.Paths = slices.Compact(f.Paths)
	return f, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// excludesMount says whether a mount at path (with its trailing slash)
// stays off the secondary this filter belongs to. A nil filter excludes
// nothing.
func (f *PathsFilter) excludesMount(path string) bool {
	if f == nil {
		return false
	}
	listed := slices.Contains(f.Paths, path)
	return listed == (f.Mode == FilterDeny)
}

// MountRef is what the keyspace split needs to know of a mount: where it
// is mounted, where its data lives, and whether it is local to a cluster.
type MountRef struct {
	Path   string
	Prefix string
	Local  bool
}

// performanceExcludes is the keyspace split of a performance secondary:
// the predicate that says which of the primary's replicated keys it does
// not receive — the token store, local mounts' data, and the data of
// mounts its paths filter leaves out. Everything else (policies, roles,
// the mount table, seal configuration, other mounts' data) replicates.
// tokenPrefixes are the token store's keys (Options.TokenPrefixes).
func performanceExcludes(tokenPrefixes []string, table []MountRef, f *PathsFilter) func(key string) bool {
	return excludesPrefixes(excludedPrefixes(tokenPrefixes, table, f))
}

// excludedPrefixes are the key prefixes performanceExcludes leaves out,
// sorted: equal lists make equal views of the same keyspace.
func excludedPrefixes(tokenPrefixes []string, table []MountRef, f *PathsFilter) []string {
	prefixes := slices.Clone(tokenPrefixes)
	for _, m := range table {
		if m.Prefix != "" && (m.Local || f.excludesMount(m.Path)) {
			prefixes = append(prefixes, m.Prefix)
		}
	}
	slices.Sort(prefixes)
	return slices.Compact(prefixes)
}

// excludesPrefixes is the predicate of the keys under any of prefixes.
func excludesPrefixes(prefixes []string) func(key string) bool {
	return func(key string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(key, p) {
				return true
			}
		}
		return false
	}
}

// SetPathsFilter stores the paths filter for secondary id (which need not
// have been admitted yet: a filter is usually set before the token).
func (m *Manager) SetPathsFilter(ctx context.Context, id string, f *PathsFilter) (*Result, error) {
	if err := m.filterable(id); err != nil {
		return nil, err
	}
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	if cur.Mode != ModePrimary {
		return nil, m.wrongMode(cur, ModePrimary)
	}
	next := cur.clone()
	if next.PathsFilters == nil {
		next.PathsFilters = map[string]*PathsFilter{}
	}
	next.PathsFilters[id] = f
	if err := m.commit(ctx, next); err != nil {
		return nil, err
	}
	// The secondary's next heartbeat carries its new view's root; a
	// mismatch makes it repair to the new view (merkle sync).
	m.forgetView(id)
	m.log.Info("paths filter set", "secondary_id", id, "mode", f.Mode, "paths", len(f.Paths))
	return nil, nil
}

// PathsFilterOf answers the paths filter of secondary id (404 if none).
func (m *Manager) PathsFilterOf(id string) (*Result, error) {
	if err := m.filterable(id); err != nil {
		return nil, err
	}
	cur := m.snapshot()
	if cur.Mode != ModePrimary {
		return nil, m.wrongMode(cur, ModePrimary)
	}
	f := cur.PathsFilters[id]
	if f == nil {
		return nil, apierr.NotFound("")
	}
	return &Result{Data: map[string]any{"mode": f.Mode, "paths": slices.Clone(f.Paths)}}, nil
}

// DynamicFilterOf answers, as Vault's primary/dynamic-filter/:id does, the
// mounts that secondary id's paths filter leaves out of its view now: the
// filter's paths matched against today's mount table (an allow filter
// leaves out every mount it does not list, mounts created later
// included). Namespaces: none (this server has none). 404 for an id with
// neither a filter nor an activation token.
func (m *Manager) DynamicFilterOf(ctx context.Context, id string) (*Result, error) {
	if err := m.filterable(id); err != nil {
		return nil, err
	}
	cur := m.snapshot()
	if cur.Mode != ModePrimary {
		return nil, m.wrongMode(cur, ModePrimary)
	}
	f := cur.PathsFilters[id]
	if _, known := cur.Secondaries[id]; !known && f == nil {
		return nil, apierr.NotFound("")
	}
	filtered := []string{}
	if f != nil && m.opts.Mounts != nil {
		table, err := m.opts.Mounts(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the mount table: %w", err)
		}
		for _, mt := range table {
			if !mt.Local && f.excludesMount(mt.Path) {
				filtered = append(filtered, mt.Path)
			}
		}
		slices.Sort(filtered)
	}
	return &Result{Data: map[string]any{"dynamic_filtered_mounts": filtered, "dynamic_filtered_namespaces": []string{}}}, nil
}

// DeletePathsFilter removes the paths filter of secondary id: it receives
// every non-local mount again.
func (m *Manager) DeletePathsFilter(ctx context.Context, id string) error {
	if err := m.filterable(id); err != nil {
		return err
	}
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	if cur.Mode != ModePrimary {
		return m.wrongMode(cur, ModePrimary)
	}
	if cur.PathsFilters[id] == nil {
		return nil
	}
	next := cur.clone()
	delete(next.PathsFilters, id)
	if err := m.commit(ctx, next); err != nil {
		return err
	}
	m.forgetView(id)
	m.log.Info("paths filter removed", "secondary_id", id)
	return nil
}

// filterable refuses paths filters where Vault has none (DR) and ids no
// secondary could have.
func (m *Manager) filterable(id string) error {
	if m.kind != KindPerformance {
		return apierr.Invalid("paths filters apply to performance secondaries only")
	}
	if !validID.MatchString(id) {
		return apierr.Invalid("secondary id %q is not valid: use letters, digits, '.', '_' and '-' (at most 128)", truncate(id, 64))
	}
	return nil
}
