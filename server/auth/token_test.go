package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// clock is a settable time source for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestMain stops the PostgreSQL server of a run with
// VAULTREPL_TEST_STORAGE=postgresql (the same suite on the other engine).
func TestMain(m *testing.M) { os.Exit(testserver.RunWithPostgres(m)) }

func newTestManager(t *testing.T) (*Manager, *storage.Store, *clock) {
	t.Helper()
	ctx := context.Background()
	var st *storage.Store
	var err error
	if testserver.StorageEngine() == testserver.EnginePostgres {
		st, err = storage.OpenPostgres(ctx, storage.PostgresConfig{ConnURL: testserver.PostgresURL(t)}, storage.Options{})
	} else {
		st, err = storage.Open(ctx, filepath.Join(t.TempDir(), "db"), storage.Options{})
	}
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	return New(st, c.now, rand.Reader), st, c
}

func mustRoot(t *testing.T, m *Manager) *Token {
	t.Helper()
	root, err := m.CreateRoot(context.Background(), "")
	if err != nil {
		t.Fatalf("CreateRoot: %v", err)
	}
	return root
}

func mustCreate(t *testing.T, m *Manager, parent *Token, sudo bool, req CreateRequest) *Token {
	t.Helper()
	tok, err := m.Create(context.Background(), parent, sudo, req)
	if err != nil {
		t.Fatalf("Create(%+v): %v", req, err)
	}
	return tok
}

func TestRandomBase62RejectsBiasedBytes(t *testing.T) {
	// 248..255 must be skipped; 0 → '0', 61 → 'z', 62 → '0', 247 → 247%62=61 → 'z'.
	src := bytes.NewReader(append([]byte{255, 248, 0, 61, 62, 247}, make([]byte, 64)...))
	m := New(nil, nil, src)
	got, err := m.randomBase62(4)
	if err != nil {
		t.Fatal(err)
	}
	if got != "0z0z" {
		t.Errorf("randomBase62 = %q, want %q", got, "0z0z")
	}
	if _, err := New(nil, nil, bytes.NewReader(nil)).randomBase62(4); err == nil {
		t.Error("randomBase62 with an exhausted reader succeeded")
	}
}

func TestTokenIDFormat(t *testing.T) {
	m, st, _ := newTestManager(t)
	ctx := context.Background()
	serviceRE := regexp.MustCompile(`^hvs\.[0-9A-Za-z]{24}$`)
	batchRE := regexp.MustCompile(`^hvb\.[0-9A-Za-z]{24}$`)
	accessorRE := regexp.MustCompile(`^[0-9A-Za-z]{24}$`)

	root := mustRoot(t, m)
	svc := mustCreate(t, m, root, true, CreateRequest{})
	batch := mustCreate(t, m, root, true, CreateRequest{Type: "batch", Policies: []string{"dev"}})
	for _, tok := range []*Token{root, svc} {
		if !serviceRE.MatchString(tok.ID) {
			t.Errorf("service id %q does not match %s", tok.ID, serviceRE)
		}
		if !accessorRE.MatchString(tok.Accessor) {
			t.Errorf("accessor %q does not match %s", tok.Accessor, accessorRE)
		}
	}
	if !batchRE.MatchString(batch.ID) || batch.Accessor != "" {
		t.Errorf("batch id %q accessor %q; want hvb. id and no accessor", batch.ID, batch.Accessor)
	}

	// Stored under the hash only; the plain id appears nowhere in the record.
	raw, err := st.Get(ctx, "auth/token/id/"+HashID(svc.ID))
	if err != nil {
		t.Fatalf("token not stored under its hash: %v", err)
	}
	if bytes.Contains(raw, []byte(svc.ID)) {
		t.Error("stored token record contains the plain token id")
	}
	acc, err := st.Get(ctx, "auth/token/accessor/"+svc.Accessor)
	if err != nil || string(acc) != HashID(svc.ID) {
		t.Errorf("accessor index = %q, %v; want the id hash", acc, err)
	}
	if _, err := st.Get(ctx, "auth/token/parent/"+HashID(root.ID)+"/"+HashID(svc.ID)); err != nil {
		t.Errorf("child index missing: %v", err)
	}
	if len(HashID("x")) != 64 {
		t.Errorf("HashID length = %d, want 64 hex chars", len(HashID("x")))
	}
}

func TestCreateRoot(t *testing.T) {
	m, _, _ := newTestManager(t)
	ctx := context.Background()
	root, err := m.CreateRoot(ctx, "my-root")
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Lookup(ctx, "my-root")
	if err != nil {
		t.Fatalf("Lookup root: %v", err)
	}
	if !slices.Equal(got.Policies, []string{"root"}) || !got.Orphan || !got.ExpireTime.IsZero() || got.Parent != "" || got.Accessor != root.Accessor {
		t.Errorf("root token = %+v", got)
	}
	if _, err := m.CreateRoot(ctx, "my-root"); apierr.KindOf(err) != apierr.KindInvalid {
		t.Errorf("duplicate root id: err = %v, want Invalid", err)
	}
	if _, err := m.CreateRoot(ctx, "has space"); apierr.KindOf(err) != apierr.KindInvalid {
		t.Errorf("malformed root id: err = %v, want Invalid", err)
	}
}

func TestCreateRules(t *testing.T) {
	yes, no := true, false
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	type parentKind int
	const (
		rootParent  parentKind = iota
		devParent              // policies default, dev, ops; 768h ttl
		shortParent            // policies default, dev; 1h ttl
		batchParent
	)
	tests := []struct {
		name    string
		parent  parentKind
		sudo    bool
		req     CreateRequest
		wantErr string // substring; kind must be Invalid unless wantKind set
		check   func(t *testing.T, tok *Token)
	}{
		{
			name: "root child gets default added and 768h", parent: rootParent,
			req: CreateRequest{Policies: []string{" Dev ", "dev", "ops"}},
			check: func(t *testing.T, tok *Token) {
				wantPolicies(t, tok, "default", "dev", "ops")
				if tok.TTL != 768*time.Hour || !tok.ExpireTime.Equal(start.Add(768*time.Hour)) {
					t.Errorf("ttl %v expire %v; want 768h", tok.TTL, tok.ExpireTime)
				}
				if !tok.Renewable || tok.Type != "service" || tok.Orphan || tok.Parent == "" || tok.Path != "auth/token/create" || tok.DisplayName != "token" {
					t.Errorf("token = %+v", tok)
				}
			},
		},
		{
			name: "root child inherits root and never expires", parent: rootParent,
			check: func(t *testing.T, tok *Token) {
				wantPolicies(t, tok, "root")
				if tok.TTL != 0 || !tok.ExpireTime.IsZero() || tok.Renewable {
					t.Errorf("ttl %v expire %v renewable %v; want never-expiring, not renewable", tok.TTL, tok.ExpireTime, tok.Renewable)
				}
			},
		},
		{
			name: "root child with ttl expires", parent: rootParent,
			req: CreateRequest{Policies: []string{"root"}, TTL: time.Hour},
			check: func(t *testing.T, tok *Token) {
				wantPolicies(t, tok, "root")
				if tok.TTL != time.Hour {
					t.Errorf("ttl = %v, want 1h", tok.TTL)
				}
			},
		},
		{
			name: "no default policy", parent: rootParent,
			req:   CreateRequest{Policies: []string{"dev", "default"}, NoDefaultPolicy: true},
			check: func(t *testing.T, tok *Token) { wantPolicies(t, tok, "dev") },
		},
		{
			name: "ttl capped at max", parent: rootParent,
			req: CreateRequest{Policies: []string{"dev"}, TTL: 10000 * time.Hour},
			check: func(t *testing.T, tok *Token) {
				if tok.TTL != 768*time.Hour {
					t.Errorf("ttl = %v, want 768h", tok.TTL)
				}
			},
		},
		{
			name: "explicit max caps ttl", parent: rootParent,
			req: CreateRequest{Policies: []string{"dev"}, TTL: 5 * time.Hour, ExplicitMaxTTL: 2 * time.Hour},
			check: func(t *testing.T, tok *Token) {
				if tok.TTL != 2*time.Hour || tok.ExplicitMaxTTL != 2*time.Hour {
					t.Errorf("ttl = %v explicit max %v, want 2h", tok.TTL, tok.ExplicitMaxTTL)
				}
			},
		},
		{
			name: "subset ok", parent: devParent,
			req:   CreateRequest{Policies: []string{"dev"}},
			check: func(t *testing.T, tok *Token) { wantPolicies(t, tok, "default", "dev") },
		},
		{
			name: "not subset", parent: devParent,
			req:     CreateRequest{Policies: []string{"admin"}},
			wantErr: "child policies must be subset of parent",
		},
		{
			name: "sudo skips subset", parent: devParent, sudo: true,
			req:   CreateRequest{Policies: []string{"admin"}},
			check: func(t *testing.T, tok *Token) { wantPolicies(t, tok, "admin", "default") },
		},
		{
			name: "sudo cannot mint root", parent: devParent, sudo: true,
			req:     CreateRequest{Policies: []string{"root"}},
			wantErr: "parent token being root",
		},
		{
			name: "inherits parent policies", parent: devParent,
			check: func(t *testing.T, tok *Token) { wantPolicies(t, tok, "default", "dev", "ops") },
		},
		{
			name: "child expiry capped at parent's", parent: shortParent,
			req: CreateRequest{TTL: 5 * time.Hour},
			check: func(t *testing.T, tok *Token) {
				if !tok.ExpireTime.Equal(start.Add(time.Hour)) || tok.TTL != time.Hour {
					t.Errorf("expire %v ttl %v; want parent's expiry", tok.ExpireTime, tok.TTL)
				}
			},
		},
		{
			name: "orphan not capped by parent", parent: shortParent,
			req: CreateRequest{TTL: 5 * time.Hour, Orphan: true},
			check: func(t *testing.T, tok *Token) {
				if tok.TTL != 5*time.Hour || !tok.Orphan || tok.Parent != "" || tok.Path != "auth/token/create-orphan" {
					t.Errorf("token = %+v; want 5h orphan", tok)
				}
			},
		},
		{
			name: "no_parent needs sudo", parent: devParent,
			req:     CreateRequest{NoParent: true},
			wantErr: "root or sudo privileges required to create orphan token",
		},
		{
			name: "no_parent with sudo", parent: devParent, sudo: true,
			req: CreateRequest{NoParent: true},
			check: func(t *testing.T, tok *Token) {
				if !tok.Orphan || tok.Parent != "" {
					t.Errorf("token = %+v; want orphan", tok)
				}
			},
		},
		{
			name: "batch token", parent: rootParent,
			req: CreateRequest{Type: "batch", Policies: []string{"dev"}, Renewable: &yes},
			check: func(t *testing.T, tok *Token) {
				if tok.Type != "batch" || tok.Renewable || tok.Accessor != "" {
					t.Errorf("token = %+v; want non-renewable batch without accessor", tok)
				}
			},
		},
		{
			name: "batch cannot be root", parent: rootParent,
			req:     CreateRequest{Type: "batch"},
			wantErr: "batch tokens cannot be root tokens",
		},
		{
			name: "batch cannot have explicit max", parent: rootParent,
			req:     CreateRequest{Type: "batch", Policies: []string{"dev"}, ExplicitMaxTTL: time.Hour},
			wantErr: "explicit_max_ttl",
		},
		{
			name: "batch parent cannot create", parent: batchParent,
			wantErr: "batch tokens cannot create more tokens",
		},
		{
			name: "unknown type", parent: rootParent,
			req:     CreateRequest{Type: "periodic"},
			wantErr: `allowed values are "service" and "batch"`,
		},
		{
			name: "not renewable on request", parent: rootParent,
			req:   CreateRequest{Policies: []string{"dev"}, Renewable: &no},
			check: func(t *testing.T, tok *Token) { wantBool(t, "renewable", tok.Renewable, false) },
		},
		{
			name: "custom id needs root or sudo", parent: devParent,
			req:     CreateRequest{ID: "custom-1"},
			wantErr: "custom token IDs need a root token",
		},
		{
			name: "custom id from root", parent: rootParent,
			req: CreateRequest{ID: "custom-2", Policies: []string{"dev"}},
			check: func(t *testing.T, tok *Token) {
				if tok.ID != "custom-2" {
					t.Errorf("id not the requested one")
				}
			},
		},
		{
			name: "display name and meta", parent: rootParent,
			req: CreateRequest{Policies: []string{"dev"}, DisplayName: "my app!", Meta: map[string]string{"k": "v"}},
			check: func(t *testing.T, tok *Token) {
				if tok.DisplayName != "token-my-app" || tok.Meta["k"] != "v" {
					t.Errorf("display %q meta %v", tok.DisplayName, tok.Meta)
				}
			},
		},
		{
			name: "unknown role", parent: rootParent,
			req:     CreateRequest{Role: "nope"},
			wantErr: `unknown role "nope"`,
		},
		{
			name: "role allowed policies default set", parent: devParent,
			req: CreateRequest{Role: "limited"},
			check: func(t *testing.T, tok *Token) {
				wantPolicies(t, tok, "default", "reader")
				if tok.Role != "limited" || tok.Path != "auth/token/create/limited" || !tok.Orphan || tok.Renewable || tok.TTL != 2*time.Hour {
					t.Errorf("token = %+v", tok)
				}
			},
		},
		{
			name: "role allowed policies subset", parent: devParent,
			req:   CreateRequest{Role: "limited", Policies: []string{"reader"}, NoDefaultPolicy: true},
			check: func(t *testing.T, tok *Token) { wantPolicies(t, tok, "reader") },
		},
		{
			name: "role rejects policy outside allowed", parent: devParent,
			req:     CreateRequest{Role: "limited", Policies: []string{"dev"}},
			wantErr: "must be subset of the role's allowed policies",
		},
		{
			name: "role disallowed", parent: rootParent,
			req:     CreateRequest{Role: "nosecret", Policies: []string{"secret"}},
			wantErr: `token policy "secret" is disallowed by role "nosecret"`,
		},
		{
			name: "role disallowed inherits others", parent: devParent,
			req:   CreateRequest{Role: "nosecret"},
			check: func(t *testing.T, tok *Token) { wantPolicies(t, tok, "default", "dev", "ops") },
		},
		{
			name: "role forces batch", parent: rootParent,
			req:   CreateRequest{Role: "batcher", Policies: []string{"dev"}},
			check: func(t *testing.T, tok *Token) { wantBool(t, "batch", tok.Type == "batch", true) },
		},
		{
			name: "role explicit max applies", parent: rootParent,
			req: CreateRequest{Role: "nosecret", Policies: []string{"dev"}, TTL: 100 * time.Hour},
			check: func(t *testing.T, tok *Token) {
				if tok.TTL != 3*time.Hour {
					t.Errorf("ttl = %v, want role explicit max 3h", tok.TTL)
				}
			},
		},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := newTestManager(t)
			ctx := context.Background()
			root := mustRoot(t, m)
			for _, r := range []Role{
				{Name: "limited", AllowedPolicies: []string{"reader"}, Orphan: true, TokenTTL: 2 * time.Hour},
				{Name: "nosecret", DisallowedPolicies: []string{"Secret"}, Renewable: true, TokenExplicitMaxTTL: 3 * time.Hour},
				{Name: "batcher", TokenType: "batch", Renewable: true},
			} {
				if err := m.PutRole(ctx, r); err != nil {
					t.Fatalf("PutRole: %v", err)
				}
			}
			var parent *Token
			switch tc.parent {
			case rootParent:
				parent = root
			case devParent:
				parent = mustCreate(t, m, root, true, CreateRequest{Policies: []string{"dev", "ops"}})
			case shortParent:
				parent = mustCreate(t, m, root, true, CreateRequest{Policies: []string{"dev"}, TTL: time.Hour})
			case batchParent:
				parent = mustCreate(t, m, root, true, CreateRequest{Policies: []string{"dev"}, Type: "batch"})
			}
			tok, err := m.Create(ctx, parent, tc.sudo, tc.req)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Create succeeded, want error containing %q", tc.wantErr)
				}
				if apierr.KindOf(err) != apierr.KindInvalid || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Create error = %v (kind %v), want Invalid containing %q", err, apierr.KindOf(err), tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			got, err := m.Lookup(ctx, tok.ID)
			if err != nil {
				t.Fatalf("Lookup of new token: %v", err)
			}
			if !slices.Equal(got.Policies, tok.Policies) || got.Accessor != tok.Accessor {
				t.Errorf("looked-up token %+v differs from created %+v", got, tok)
			}
			if tc.check != nil {
				tc.check(t, tok)
			}
		})
	}
}

func wantPolicies(t *testing.T, tok *Token, want ...string) {
	t.Helper()
	if !slices.Equal(tok.Policies, want) {
		t.Errorf("policies = %v, want %v", tok.Policies, want)
	}
}

func wantBool(t *testing.T, what string, got, want bool) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestCreateNilParent(t *testing.T) {
	m, _, _ := newTestManager(t)
	if _, err := m.Create(context.Background(), nil, true, CreateRequest{}); apierr.KindOf(err) != apierr.KindPermissionDenied {
		t.Errorf("nil parent: err = %v, want PermissionDenied", err)
	}
}

func TestCreateExpiringRootCannotMintEternalRoot(t *testing.T) {
	m, _, _ := newTestManager(t)
	root := mustRoot(t, m)
	short := mustCreate(t, m, root, true, CreateRequest{TTL: time.Hour})
	if _, err := m.Create(context.Background(), short, true, CreateRequest{Orphan: true}); apierr.KindOf(err) != apierr.KindInvalid {
		t.Errorf("err = %v, want Invalid", err)
	}
}

func TestLookup(t *testing.T) {
	m, _, clk := newTestManager(t)
	ctx := context.Background()
	root := mustRoot(t, m)
	tok := mustCreate(t, m, root, true, CreateRequest{Policies: []string{"dev"}, TTL: time.Hour})

	got, err := m.Lookup(ctx, tok.ID)
	if err != nil || got.ID != tok.ID {
		t.Fatalf("Lookup = %v, %v", got, err)
	}
	clk.advance(time.Hour) // exactly at expiry: still valid
	if _, err := m.Lookup(ctx, tok.ID); err != nil {
		t.Errorf("Lookup at expiry instant: %v", err)
	}
	clk.advance(time.Second)
	for name, id := range map[string]string{
		"expired":   tok.ID,
		"unknown":   "hvs.doesnotexist000000000000",
		"empty":     "",
		"malformed": "hvs.a b",
		"too long":  strings.Repeat("x", maxTokenIDLen+1),
	} {
		_, err := m.Lookup(ctx, id)
		if apierr.KindOf(err) != apierr.KindPermissionDenied || err.Error() != "permission denied" {
			t.Errorf("Lookup(%s) err = %v, want PermissionDenied", name, err)
		}
	}
	if _, err := m.Lookup(ctx, root.ID); err != nil {
		t.Errorf("root token expired: %v", err)
	}
	if _, err := m.LookupAccessor(ctx, tok.Accessor); apierr.KindOf(err) != apierr.KindInvalid {
		t.Errorf("LookupAccessor of expired token: err = %v, want Invalid", err)
	}
	acc, err := m.LookupAccessor(ctx, root.Accessor)
	if err != nil || acc.ID != "" || acc.Accessor != root.Accessor {
		t.Errorf("LookupAccessor(root) = %+v, %v; want token without id", acc, err)
	}
}

func TestRevokeTree(t *testing.T) {
	m, st, _ := newTestManager(t)
	ctx := context.Background()
	root := mustRoot(t, m)
	a := mustCreate(t, m, root, true, CreateRequest{Policies: []string{"dev"}})
	b := mustCreate(t, m, a, false, CreateRequest{})
	c := mustCreate(t, m, b, false, CreateRequest{})
	d := mustCreate(t, m, a, false, CreateRequest{Type: "batch"})
	orphan := mustCreate(t, m, a, false, CreateRequest{Orphan: true})
	sibling := mustCreate(t, m, root, true, CreateRequest{Policies: []string{"dev"}})

	if err := m.Revoke(ctx, a.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	for name, tok := range map[string]*Token{"a": a, "b": b, "c": c, "d": d} {
		if _, err := m.Lookup(ctx, tok.ID); apierr.KindOf(err) != apierr.KindPermissionDenied {
			t.Errorf("%s still valid after revoking its ancestor: %v", name, err)
		}
		if tok.Accessor != "" {
			if _, err := st.Get(ctx, "auth/token/accessor/"+tok.Accessor); err == nil {
				t.Errorf("%s accessor index left behind", name)
			}
		}
	}
	for name, tok := range map[string]*Token{"root": root, "orphan": orphan, "sibling": sibling} {
		if _, err := m.Lookup(ctx, tok.ID); err != nil {
			t.Errorf("%s revoked: %v", name, err)
		}
	}
	// Only the sibling is left in root's child index, and a's index is gone.
	kids, err := st.List(ctx, "auth/token/parent/"+HashID(root.ID)+"/")
	if err != nil || !slices.Equal(kids, []string{HashID(sibling.ID)}) {
		t.Errorf("root children = %v, %v; want only the sibling", kids, err)
	}
	for _, tok := range []*Token{a, b} {
		if kids, _ := st.List(ctx, "auth/token/parent/"+HashID(tok.ID)+"/"); len(kids) != 0 {
			t.Errorf("child index of revoked token left behind: %v", kids)
		}
	}

	if err := m.Revoke(ctx, a.ID); err != nil {
		t.Errorf("revoking an already revoked token: %v", err)
	}
	if err := m.Revoke(ctx, ""); err != nil {
		t.Errorf("revoking an empty id: %v", err)
	}

	if err := m.RevokeAccessor(ctx, sibling.Accessor); err != nil {
		t.Fatalf("RevokeAccessor: %v", err)
	}
	if _, err := m.Lookup(ctx, sibling.ID); apierr.KindOf(err) != apierr.KindPermissionDenied {
		t.Errorf("sibling still valid after RevokeAccessor: %v", err)
	}
	if err := m.RevokeAccessor(ctx, sibling.Accessor); apierr.KindOf(err) != apierr.KindInvalid {
		t.Errorf("RevokeAccessor of unknown accessor: err = %v, want Invalid", err)
	}
}

func TestRevokeDepthBound(t *testing.T) {
	m, st, _ := newTestManager(t)
	ctx := context.Background()
	// A chain of index entries deeper than the bound (as a corrupt keyspace
	// could hold) must stop with an error instead of recursing forever.
	var ops []storage.Op
	for i := 0; i <= maxRevokeDepth+1; i++ {
		ops = append(ops, storage.Op{Key: "auth/token/parent/" + HashID(string(rune('a'+i%26))+strings.Repeat("x", i)) + "/" + HashID(string(rune('a'+(i+1)%26))+strings.Repeat("x", i+1)), Value: []byte{}})
	}
	if _, err := st.Write(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, "a"); err == nil || !strings.Contains(err.Error(), "deeper than") {
		t.Errorf("Revoke of over-deep tree: err = %v, want depth error", err)
	}
}

func TestPolicyStore(t *testing.T) {
	m, st, _ := newTestManager(t)
	ctx := context.Background()

	if err := m.PutPolicy(ctx, " Dev ", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatalf("PutPolicy: %v", err)
	}
	p, err := m.GetPolicy(ctx, "DEV")
	if err != nil || p.Name != "dev" || !strings.Contains(p.Raw, "secret/*") {
		t.Fatalf("GetPolicy = %+v, %v", p, err)
	}
	if _, err := st.Get(ctx, "sys/policy/dev"); err != nil {
		t.Errorf("policy not stored at sys/policy/dev: %v", err)
	}
	err = m.PutPolicy(ctx, "bad", `path "a" { capabilities = ["nope"] }`)
	if apierr.KindOf(err) != apierr.KindInvalid || !strings.Contains(err.Error(), `failed to parse policy "bad"`) {
		t.Errorf("invalid policy: err = %v", err)
	}
	if err := m.PutPolicy(ctx, "empty", ""); apierr.KindOf(err) != apierr.KindInvalid {
		t.Errorf("empty policy: err = %v, want Invalid", err)
	}
	if err := m.PutPolicy(ctx, "root", `path "a" { capabilities = ["read"] }`); apierr.KindOf(err) != apierr.KindInvalid {
		t.Errorf("writing root: err = %v, want Invalid", err)
	}

	def, err := m.GetPolicy(ctx, "default")
	if err != nil || def.Raw != defaultPolicyRules {
		t.Errorf("built-in default = %+v, %v", def, err)
	}
	root, err := m.GetPolicy(ctx, "root")
	if err != nil || root.Raw != "" {
		t.Errorf("root policy = %+v, %v", root, err)
	}
	if _, err := m.GetPolicy(ctx, "missing"); apierr.KindOf(err) != apierr.KindNotFound {
		t.Errorf("missing policy: err = %v, want NotFound", err)
	}

	// default can be rewritten, as in Vault, but not deleted.
	custom := `path "auth/token/lookup-self" { capabilities = ["read"] }`
	if err := m.PutPolicy(ctx, "default", custom); err != nil {
		t.Fatalf("overwrite default: %v", err)
	}
	if def, _ := m.GetPolicy(ctx, "default"); def.Raw != custom {
		t.Errorf("default not overwritten: %q", def.Raw)
	}
	for _, n := range []string{"root", "default"} {
		if err := m.DeletePolicy(ctx, n); apierr.KindOf(err) != apierr.KindInvalid {
			t.Errorf("DeletePolicy(%s): err = %v, want Invalid", n, err)
		}
	}

	if err := m.PutPolicy(ctx, "alpha", `path "x" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	names, err := m.ListPolicies(ctx)
	if err != nil || !slices.Equal(names, []string{"alpha", "default", "dev", "root"}) {
		t.Errorf("ListPolicies = %v, %v", names, err)
	}
	if err := m.DeletePolicy(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if err := m.DeletePolicy(ctx, "dev"); err != nil {
		t.Errorf("deleting a missing policy: %v", err)
	}
	if _, err := m.GetPolicy(ctx, "dev"); apierr.KindOf(err) != apierr.KindNotFound {
		t.Errorf("deleted policy still there: %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	m, _, _ := newTestManager(t)
	ctx := context.Background()
	if err := m.PutPolicy(ctx, "dev", `
path "secret/*" { capabilities = ["read", "list"] }
path "secret/admin/*" { capabilities = ["deny"] }
path "sys/mounts/*" { capabilities = ["update", "sudo"] }
path "sys/policy/*" { capabilities = ["update"] }
`); err != nil {
		t.Fatal(err)
	}
	if err := m.PutPolicy(ctx, "writer", `path "secret/*" { capabilities = ["create", "update"] }`); err != nil {
		t.Fatal(err)
	}
	root := mustRoot(t, m)
	tok := mustCreate(t, m, root, true, CreateRequest{Policies: []string{"dev", "writer", "ghost"}})

	tests := []struct {
		name     string
		tok      *Token
		path     string
		op       Operation
		needSudo bool
		allowed  bool
	}{
		{"read via glob", tok, "secret/foo", OpRead, false, true},
		{"create from second policy", tok, "secret/foo", OpCreate, false, true},
		{"delete not granted", tok, "secret/foo", OpDelete, false, false},
		{"deny subtree", tok, "secret/admin/x", OpRead, false, false},
		{"sudo granted", tok, "sys/mounts/kv", OpUpdate, true, true},
		{"sudo missing", tok, "sys/policy/x", OpUpdate, true, false},
		{"default policy applies", tok, "auth/token/lookup-self", OpRead, false, true},
		{"nothing matches", tok, "kv/data/x", OpRead, false, false},
		{"root allows all", root, "anything/at/all", OpDelete, true, true},
		{"nil token", nil, "secret/foo", OpRead, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := m.Authorize(ctx, tc.tok, tc.path, tc.op, tc.needSudo)
			if tc.allowed && err != nil {
				t.Errorf("denied: %v", err)
			}
			if !tc.allowed && (apierr.KindOf(err) != apierr.KindPermissionDenied || err.Error() != "permission denied") {
				t.Errorf("err = %v, want PermissionDenied", err)
			}
		})
	}

	caps, err := m.Capabilities(ctx, tok, "secret/foo")
	if err != nil || !slices.Equal(caps, []string{"create", "list", "read", "update"}) {
		t.Errorf("Capabilities = %v, %v", caps, err)
	}
	if caps, _ := m.Capabilities(ctx, tok, "secret/admin/x"); !slices.Equal(caps, []string{"deny"}) {
		t.Errorf("Capabilities on denied path = %v", caps)
	}
	if caps, _ := m.Capabilities(ctx, root, "x"); !slices.Equal(caps, []string{"root"}) {
		t.Errorf("root Capabilities = %v", caps)
	}

	// Policies are read from storage each time: a rewrite takes effect.
	if err := m.PutPolicy(ctx, "writer", `path "other/*" { capabilities = ["create"] }`); err != nil {
		t.Fatal(err)
	}
	if err := m.Authorize(ctx, tok, "secret/foo", OpCreate, false); apierr.KindOf(err) != apierr.KindPermissionDenied {
		t.Errorf("rewritten policy still grants create: %v", err)
	}
}

func TestRoles(t *testing.T) {
	m, _, _ := newTestManager(t)
	ctx := context.Background()
	if err := m.PutRole(ctx, Role{Name: "b", AllowedPolicies: []string{" Dev", "dev"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.PutRole(ctx, Role{Name: "a", TokenType: "default-batch"}); err != nil {
		t.Fatal(err)
	}
	r, err := m.GetRole(ctx, "b")
	if err != nil || !slices.Equal(r.AllowedPolicies, []string{"dev"}) || r.TokenType != "default-service" {
		t.Errorf("GetRole = %+v, %v", r, err)
	}
	names, err := m.ListRoles(ctx)
	if err != nil || !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("ListRoles = %v, %v", names, err)
	}
	for _, bad := range []Role{{Name: ""}, {Name: "x/y"}, {Name: "x", TokenType: "weird"}, {Name: "x", TokenTTL: -1}, {Name: "x", TokenType: "batch", TokenExplicitMaxTTL: time.Hour}} {
		if err := m.PutRole(ctx, bad); apierr.KindOf(err) != apierr.KindInvalid {
			t.Errorf("PutRole(%+v): err = %v, want Invalid", bad, err)
		}
	}
	if err := m.DeleteRole(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetRole(ctx, "b"); apierr.KindOf(err) != apierr.KindNotFound {
		t.Errorf("deleted role: err = %v, want NotFound", err)
	}

	// default-batch: batch unless the request asks for service.
	root := mustRoot(t, m)
	tok := mustCreate(t, m, root, true, CreateRequest{Role: "a", Policies: []string{"dev"}})
	svc := mustCreate(t, m, root, true, CreateRequest{Role: "a", Policies: []string{"dev"}, Type: "service"})
	if tok.Type != "batch" || svc.Type != "service" {
		t.Errorf("default-batch role gave %q and %q", tok.Type, svc.Type)
	}
}
