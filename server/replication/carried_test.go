package replication

import (
	"encoding/json"
	"testing"
)

// TestCarriedDigest: the digest names keys and values with their lengths,
// so moving a byte from a key to its value changes it.
func TestCarriedDigest(t *testing.T) {
	a := carriedDigest([]carriedEntry{{Key: "ab", Value: []byte("c")}})
	b := carriedDigest([]carriedEntry{{Key: "a", Value: []byte("bc")}})
	if a == b || a != carriedDigest([]carriedEntry{{Key: "ab", Value: []byte("c")}}) {
		t.Fatalf("digests: %s %s", a, b)
	}
	if carriedDigest(nil) == "" {
		t.Fatal("the digest of no keys must still name them (a secondary compares it)")
	}
}

// TestReadvertise: a carried performance primary's state advertises the
// promoted cluster's address; a secondary's state is installed unchanged.
func TestReadvertise(t *testing.T) {
	prim, _ := json.Marshal(map[string]any{"mode": "primary", "primary_cluster_addr": "https://old:8201", "cluster_id": "x"})
	got, err := readvertise(prim, "https://new:8201")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(got, &doc); err != nil || doc["primary_cluster_addr"] != "https://new:8201" || doc["cluster_id"] != "x" {
		t.Fatalf("rewritten state: %s %v", got, err)
	}
	sec := []byte(`{"mode":"secondary","primary_cluster_addr":"https://p:8201"}`)
	if got, err := readvertise(sec, "https://new:8201"); err != nil || string(got) != string(sec) {
		t.Fatalf("secondary state changed: %s %v", got, err)
	}
	if _, err := readvertise([]byte("{"), "https://new:8201"); err == nil {
		t.Fatal("a state that does not decode was installed")
	}
}
