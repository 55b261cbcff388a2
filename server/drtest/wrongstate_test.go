package drtest

import (
	"net/http"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"
)

// wrongStateCase is one refused request: the cluster it goes to, what is
// prepared first (outside the before/after comparison), the request, the
// answer expected, and optional extra checks afterwards.
type wrongStateCase struct {
	name   string
	on     ctlNode
	prep   func(t *testing.T)
	method string // PUT unless set
	path   string // under /v1/
	token  string // X-Vault-Token
	body   func() string
	code   int
	want   []string // substrings of the error message
	after  func(t *testing.T)
}

func ctlBody(s string) func() string { return func() string { return s } }

func ctlBodyJSON(v map[string]any) func() string { return ctlBody(mustJSON(v)) }

func runWrongState(t *testing.T, cases []wrongStateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prep != nil {
				tc.prep(t)
			}
			before := takeSnapshot(t, tc.on)
			method := tc.method
			if method == "" {
				method = http.MethodPut
			}
			b := ""
			if tc.body != nil {
				b = tc.body()
			}
			code, resp := ctlCall(t, tc.on.cluster, method, "/v1/"+tc.path, tc.token, b)
			wantAPIError(t, method+" "+tc.path, code, resp, tc.code, tc.want...)
			sameState(t, method+" "+tc.path, before, takeSnapshot(t, tc.on))
			if tc.after != nil {
				tc.after(t)
			}
		})
	}
}

const (
	pEnablePrimary  = "sys/replication/dr/primary/enable"
	pDemote         = "sys/replication/dr/primary/demote"
	pDisablePrimary = "sys/replication/dr/primary/disable"
	pSecondaryToken = "sys/replication/dr/primary/secondary-token"
	pRevoke         = "sys/replication/dr/primary/revoke-secondary"
	pEnableSec      = "sys/replication/dr/secondary/enable"
	pPromote        = "sys/replication/dr/secondary/promote"
	pDisableSec     = "sys/replication/dr/secondary/disable"
	pUpdatePrimary  = "sys/replication/dr/secondary/update-primary"
	pAttempt        = "sys/replication/dr/secondary/generate-operation-token/attempt"
	pUpdate         = "sys/replication/dr/secondary/generate-operation-token/update"
	pOpTokenDelete  = "sys/replication/dr/secondary/operation-token/delete"
	pUnwrap         = "sys/wrapping/unwrap"
	pWrapLookup     = "sys/wrapping/lookup"

	// bogusOpToken has the shape of a DR operation token but was never issued.
	bogusOpToken = "hvs.AAAAAAAAAAAAAAAAAAAAAAAA"
)

// TestWrongStateAndBadInput sends every control endpoint requests that must
// be refused — wrong DR mode, bad or missing input, missing or wrong DR
// operation token — to live clusters in each mode, and checks the status,
// that the message says why, and that nothing changed: DR status (mode,
// cluster id, known secondaries, merkle root, WAL indexes), the replicated
// data and the operation token generation attempt.
func TestWrongStateAndBadInput(t *testing.T) {
	// A: primary with B as its live secondary. C: disabled. D: a primary of
	// another DR set, demoted (a secondary following nobody).
	a := startCluster(t, "A")
	b := startCluster(t, "B")
	c := startCluster(t, "C")
	d := startCluster(t, "D")
	for _, x := range []*cluster{a, c, d} {
		x.write(x.root, "secret/canary", map[string]any{"v": x.name})
	}
	if _, err := a.rootClient().Logical().Write(pEnablePrimary, nil); err != nil {
		t.Fatalf("enable A: %v", err)
	}
	if _, err := d.rootClient().Logical().Write(pEnablePrimary, nil); err != nil {
		t.Fatalf("enable D: %v", err)
	}
	if _, err := d.rootClient().Logical().Write(pDemote, nil); err != nil {
		t.Fatalf("demote D: %v", err)
	}
	idA, idD := a.status().ClusterID, d.status().ClusterID
	opD := d.drOperationToken(d.keys)

	// A token of the primary whose policy does not reach the DR endpoints.
	weak, err := a.rootClient().Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatalf("create weak token: %v", err)
	}
	weakTok := weak.Auth.ClientToken

	if _, err := b.rootClient().Logical().Write(pEnableSec, map[string]any{"token": a.secondaryToken(a.root, "b", nil)}); err != nil {
		t.Fatalf("enable B: %v", err)
	}
	waitInSync(t, a, b)

	nA, nB, nC, nD := ctlNode{a, a.root}, ctlNode{b, a.root}, ctlNode{c, c.root}, ctlNode{d, d.root}

	// Tokens minted on A by a case's prep, for its body.
	var minted, closed string
	mintOnA := func(id string) func(t *testing.T) {
		return func(t *testing.T) { minted = mintToken(t, a, a.root, id, nil) }
	}
	// The running generation attempt on B, for the op-token cases.
	var nonce string
	resetAttempt := func(t *testing.T) {
		t.Helper()
		if code, resp := ctlCall(t, b, http.MethodDelete, "/v1/"+pAttempt, "", ""); code != http.StatusNoContent {
			t.Fatalf("cancel attempt: %d %s", code, resp)
		}
	}
	startAttempt := func(t *testing.T) {
		t.Helper()
		resetAttempt(t)
		st, err := b.client("").Sys().GenerateDROperationTokenInit("", "")
		if err != nil {
			t.Fatalf("start attempt: %v", err)
		}
		nonce = st.Nonce
	}

	t.Run("disabled", func(t *testing.T) {
		runWrongState(t, []wrongStateCase{
			{name: "demote", on: nC, path: pDemote, token: c.root, code: 400, want: []string{"not enabled as a primary"}},
			{name: "disable primary", on: nC, path: pDisablePrimary, token: c.root, code: 400, want: []string{"not enabled as a primary"}},
			{name: "disable secondary", on: nC, path: pDisableSec, token: c.root, code: 400, want: []string{"not a DR secondary"}},
			{name: "secondary-token", on: nC, path: pSecondaryToken, token: c.root, body: ctlBodyJSON(map[string]any{"id": "x"}), code: 400, want: []string{"not enabled as a primary"}},
			{name: "revoke-secondary", on: nC, path: pRevoke, token: c.root, body: ctlBodyJSON(map[string]any{"id": "x"}), code: 400, want: []string{"not enabled as a primary"}},
			{name: "promote", on: nC, path: pPromote, body: ctlBodyJSON(map[string]any{"dr_operation_token": c.root}), code: 400, want: []string{"not a DR secondary", "disabled"}},
			{name: "enable primary with a bad primary_cluster_addr", on: nC, path: pEnablePrimary, token: c.root, body: ctlBodyJSON(map[string]any{"primary_cluster_addr": "no port here"}), code: 400, want: []string{"primary_cluster_addr"}},
			{name: "secondary enable without token", on: nC, path: pEnableSec, token: c.root, body: ctlBody(`{}`), code: 400, want: []string{`missing required parameter "token"`}},
			{name: "secondary enable with a garbage token", on: nC, path: pEnableSec, token: c.root, body: ctlBodyJSON(map[string]any{"token": "garbage"}), code: 400, want: []string{"activation token is neither a wrapped token"}},
			{name: "secondary enable with a JWT-shaped garbage token", on: nC, path: pEnableSec, token: c.root, body: ctlBodyJSON(map[string]any{"token": "eyJhbGciOiJub25lIn0.e30.c2ln"}), code: 400, want: []string{"activation token is malformed"}},
			{
				name: "secondary enable with the primary unreachable at primary_api_addr", on: nC,
				prep: func(t *testing.T) {
					mintOnA("c-unreached")(t)
					closed = closedAddr(t)
				},
				path: pEnableSec, token: c.root, body: func() string {
					return mustJSON(map[string]any{"token": minted, "primary_api_addr": closed})
				},
				code: 400, want: []string{"unreachable", "primary_api_addr"},
				after: func(t *testing.T) {
					// Nothing reached the primary: the token is still good there.
					code, resp := ctlCall(t, a, http.MethodPut, "/v1/"+pWrapLookup, "", mustJSON(map[string]any{"token": minted}))
					if code != http.StatusOK {
						t.Errorf("token no longer valid at the primary after a failed enable: %d %s", code, resp)
					}
				},
			},
			{name: "malformed JSON", on: nC, path: pEnableSec, token: c.root, body: ctlBody(`{"token": `), code: 400, want: []string{"failed to parse JSON"}},
			{name: "body not an object", on: nC, path: pEnableSec, token: c.root, body: ctlBody(`["token"]`), code: 400, want: []string{"must be a JSON object"}},
		})
	})

	t.Run("primary", func(t *testing.T) {
		runWrongState(t, []wrongStateCase{
			{name: "enable primary twice", on: nA, path: pEnablePrimary, token: a.root, code: 400, want: []string{"already a DR primary", idA}},
			{name: "secondary enable", on: nA, prep: mintOnA("a-self"), path: pEnableSec, token: a.root, body: func() string { return mustJSON(map[string]any{"token": minted}) }, code: 400, want: []string{"DR primary", "demote or disable"}},
			{name: "promote", on: nA, path: pPromote, body: ctlBodyJSON(map[string]any{"dr_operation_token": a.root}), code: 400, want: []string{"not a DR secondary", "primary"}},
			{name: "update-primary", on: nA, path: pUpdatePrimary, body: ctlBodyJSON(map[string]any{"dr_operation_token": a.root, "token": "x"}), code: 400, want: []string{"DR primary, not a secondary"}},
			{name: "disable secondary", on: nA, path: pDisableSec, token: a.root, code: 400, want: []string{"DR primary, not a secondary"}},
			{name: "secondary-token without id", on: nA, path: pSecondaryToken, token: a.root, body: ctlBody(`{}`), code: 400, want: []string{`missing required parameter "id"`}},
			{name: "secondary-token with an invalid id", on: nA, path: pSecondaryToken, token: a.root, body: ctlBodyJSON(map[string]any{"id": "no spaces!"}), code: 400, want: []string{`secondary id "no spaces!" is not valid`}},
			{name: "secondary-token with a live id", on: nA, path: pSecondaryToken, token: a.root, body: ctlBodyJSON(map[string]any{"id": "b"}), code: 400, want: []string{`"b" is already in use`}},
			{name: "secondary-token with a bad ttl", on: nA, path: pSecondaryToken, token: a.root, body: ctlBodyJSON(map[string]any{"id": "x1", "ttl": "forever"}), code: 400, want: []string{`"ttl"`, "duration"}},
			{name: "secondary-token with a negative ttl", on: nA, path: pSecondaryToken, token: a.root, body: ctlBodyJSON(map[string]any{"id": "x1", "ttl": "-5m"}), code: 400, want: []string{`"ttl"`}},
			{name: "secondary-token with a bad secondary_public_key", on: nA, path: pSecondaryToken, token: a.root, body: ctlBodyJSON(map[string]any{"id": "x2", "secondary_public_key": "bm90IGEga2V5"}), code: 400, want: []string{"secondary_public_key is not valid"}},
			{name: "secondary-token without sudo", on: nA, path: pSecondaryToken, token: weakTok, body: ctlBodyJSON(map[string]any{"id": "x3"}), code: 403, want: []string{"permission denied"}},
			{name: "secondary-token with malformed JSON", on: nA, path: pSecondaryToken, token: a.root, body: ctlBody(`{"id": "x4",`), code: 400, want: []string{"failed to parse JSON"}},
			{name: "revoke-secondary without id", on: nA, path: pRevoke, token: a.root, body: ctlBody(`{}`), code: 400, want: []string{`missing required parameter "id"`}},
			{name: "revoke-secondary of an unknown id", on: nA, path: pRevoke, token: a.root, body: ctlBodyJSON(map[string]any{"id": "nope"}), code: 400, want: []string{`no secondary "nope"`}},
			{name: "unwrap a garbage token", on: nA, path: pUnwrap, token: "garbage", code: 400, want: []string{"wrapping token is not valid or does not exist"}},
			{name: "unwrap a JWT-shaped garbage token", on: nA, path: pUnwrap, body: ctlBodyJSON(map[string]any{"token": "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.e30.c2ln"}), code: 400, want: []string{"wrapping token is not valid or does not exist"}},
			{name: "unwrap without a token", on: nA, path: pUnwrap, code: 400, want: []string{"missing wrapping token"}},
			{name: "wrapping lookup of a garbage token", on: nA, path: pWrapLookup, body: ctlBodyJSON(map[string]any{"token": "garbage"}), code: 400, want: []string{"wrapping token is not valid or does not exist"}},
		})
	})

	t.Run("secondary", func(t *testing.T) {
		waitInSync(t, a, b)
		runWrongState(t, []wrongStateCase{
			{name: "enable primary", on: nB, path: pEnablePrimary, token: a.root, code: 400, want: []string{"DR secondary", "promote"}},
			{
				name: "secondary enable twice", on: nB, prep: mintOnA("b-again"), path: pEnableSec, token: a.root,
				body: func() string { return mustJSON(map[string]any{"token": minted}) },
				code: 400, want: []string{"already a DR secondary", idA},
				after: func(t *testing.T) {
					// Refused before any unwrap: the token is still good.
					code, resp := ctlCall(t, a, http.MethodPut, "/v1/"+pWrapLookup, "", mustJSON(map[string]any{"token": minted}))
					if code != http.StatusOK {
						t.Errorf("token consumed by a refused enable: %d %s", code, resp)
					}
				},
			},
			{name: "secondary-token", on: nB, path: pSecondaryToken, token: a.root, body: ctlBodyJSON(map[string]any{"id": "x"}), code: 400, want: []string{"DR secondary, not a primary"}},
			{name: "revoke-secondary", on: nB, path: pRevoke, token: a.root, body: ctlBodyJSON(map[string]any{"id": "b"}), code: 400, want: []string{"DR secondary, not a primary"}},
			{name: "demote", on: nB, path: pDemote, token: a.root, code: 400, want: []string{"DR secondary, not a primary"}},
			{name: "disable primary", on: nB, path: pDisablePrimary, token: a.root, code: 400, want: []string{"DR secondary, not a primary"}},
			{name: "promote without dr_operation_token (X-Vault-Token ignored)", on: nB, path: pPromote, token: a.root, body: ctlBody(`{}`), code: 403, want: []string{"dr_operation_token"}},
			{name: "promote with a wrong dr_operation_token", on: nB, path: pPromote, body: ctlBodyJSON(map[string]any{"dr_operation_token": bogusOpToken}), code: 403, want: []string{"dr_operation_token"}},
			{name: "promote with another cluster's operation token", on: nB, path: pPromote, body: ctlBodyJSON(map[string]any{"dr_operation_token": opD}), code: 403, want: []string{"dr_operation_token"}},
			{name: "promote with a primary token lacking the policy", on: nB, path: pPromote, body: ctlBodyJSON(map[string]any{"dr_operation_token": weakTok}), code: 403, want: []string{"dr_operation_token"}},
			{name: "promote with malformed JSON", on: nB, path: pPromote, body: ctlBody(`{"dr_operation_token": `), code: 400, want: []string{"failed to parse JSON"}},
			{name: "update-primary without dr_operation_token", on: nB, path: pUpdatePrimary, token: a.root, body: ctlBody(`{"token": ""}`), code: 403, want: []string{"dr_operation_token"}},
			{name: "disable secondary with a wrong dr_operation_token", on: nB, path: pDisableSec, body: ctlBodyJSON(map[string]any{"dr_operation_token": bogusOpToken}), code: 403, want: []string{"dr_operation_token"}},
			{name: "operation-token delete with a wrong token", on: nB, path: pOpTokenDelete, body: ctlBodyJSON(map[string]any{"dr_operation_token": bogusOpToken}), code: 403, want: []string{"dr_operation_token"}},
			{
				name: "generate-operation-token update with no attempt", on: nB, prep: resetAttempt, path: pUpdate,
				body: ctlBodyJSON(map[string]any{"key": a.keys[0], "nonce": "f0000000-0000-0000-0000-000000000000"}),
				code: 400, want: []string{"no operation token generation in progress"},
			},
			{name: "attempt started twice", on: nB, prep: startAttempt, path: pAttempt, body: ctlBody(`{}`), code: 400, want: []string{"already in progress"}},
			{
				name: "update with a wrong nonce", on: nB, prep: startAttempt, path: pUpdate,
				body: ctlBodyJSON(map[string]any{"key": a.keys[0], "nonce": "not-the-nonce"}),
				code: 400, want: []string{"nonce does not match"},
			},
			{
				name: "update without nonce", on: nB, prep: startAttempt, path: pUpdate,
				body: ctlBodyJSON(map[string]any{"key": a.keys[0]}),
				code: 400, want: []string{`missing required parameter "nonce"`},
			},
			{
				name: "update with a reused share", on: nB,
				prep: func(t *testing.T) {
					startAttempt(t)
					st, err := b.client("").Sys().GenerateDROperationTokenUpdate(a.keys[0], nonce)
					if err != nil || st.Progress != 1 {
						t.Fatalf("first share: %v %+v", err, st)
					}
				},
				path: pUpdate,
				body: func() string { return mustJSON(map[string]any{"key": a.keys[0], "nonce": nonce}) },
				code: 400, want: []string{"already submitted"},
			},
			{name: "otp of the wrong length", on: nB, prep: resetAttempt, path: pAttempt, body: ctlBodyJSON(map[string]any{"otp": "tooshort"}), code: 400, want: []string{"otp must be 28 characters"}},
			{name: "pgp_key", on: nB, prep: resetAttempt, path: pAttempt, body: ctlBodyJSON(map[string]any{"pgp_key": "mQENBFXbjPUBCADjNjCUQwfxKL+RR2GA6pv/1K+zJZ8UWIF9S0lk7cVIEfJiprzz"}), code: 400, want: []string{"PGP"}},
		})
	})

	t.Run("demoted", func(t *testing.T) {
		runWrongState(t, []wrongStateCase{
			{
				name: "update-primary with a token from another DR set", on: nD, prep: mintOnA("d"), path: pUpdatePrimary,
				body: func() string { return mustJSON(map[string]any{"token": minted, "dr_operation_token": opD}) },
				code: 400, want: []string{"DR set " + idA, "DR set " + idD},
			},
			{name: "update-primary with a wrong dr_operation_token", on: nD, path: pUpdatePrimary, body: ctlBodyJSON(map[string]any{"token": "", "dr_operation_token": bogusOpToken}), code: 403, want: []string{"dr_operation_token"}},
			{name: "enable primary", on: nD, path: pEnablePrimary, token: d.root, code: 400, want: []string{"DR secondary", "promote"}},
			{name: "demote twice", on: nD, path: pDemote, token: d.root, code: 400, want: []string{"DR secondary, not a primary"}},
			{name: "secondary enable", on: nD, prep: mintOnA("d2"), path: pEnableSec, token: d.root, body: func() string { return mustJSON(map[string]any{"token": minted}) }, code: 400, want: []string{"already a DR secondary", idD}},
			{name: "secondary-token", on: nD, path: pSecondaryToken, token: d.root, body: ctlBodyJSON(map[string]any{"id": "x"}), code: 400, want: []string{"DR secondary, not a primary"}},
		})
	})
}
