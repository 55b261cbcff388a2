package httpapi

import (
	"net/http"
	"testing"
)

// TestNoServerErrorForBadParameters sends every route bodies whose values
// have the wrong types or shapes: each answer is a 2xx/4xx, never a 500.
func TestNoServerErrorForBadParameters(t *testing.T) {
	tc := newUnsealedCluster(t)
	bodies := []string{
		`{"id":5,"ttl":[],"token":{},"policies":{},"key":1,"nonce":true,"otp":7,"pgp_key":[],"force":"maybe","primary_cluster_addr":3,"policy":1,"secret_shares":"x","dr_operation_token":9,"meta":"m","type":false,"renewable":"perhaps","accessor":[],"paths":1,"secondary_public_key":{}}`,
		`{"id":"","ttl":"-5s","token":"","primary_api_addr":"::not a url::","ca_file":"/nonexistent/ca.pem","ca_path":"/nonexistent","key":"zz","nonce":"","otp":"short","primary_cluster_addr":"not-an-address"}`,
		`{"ttl":"99999999999999999999","secret_shares":99999999999,"secret_threshold":-1,"allowed_policies":[1,2],"token_ttl":"1y"}`,
		`[]`, `"string"`, `null`, `{"a":`,
	}
	for _, rt := range New(tc.core).routes() {
		if rt.path == "sys/seal" {
			continue // it would seal the cluster for the routes after it
		}
		for _, body := range bodies {
			code, resp := tc.do(rt.method, concretePath(rt.path), tc.root, body)
			if code >= http.StatusInternalServerError && code != http.StatusServiceUnavailable {
				t.Errorf("%s %s with %.60s: status %d %.200s", rt.method, rt.path, body, code, resp)
			}
		}
	}
}
