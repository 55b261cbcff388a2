package provider

import (
	"context"
	"io"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"
)

// TestClientLoggerConcurrent: one client, hence one tfLogger, serves every
// request of a provider process, and Terraform runs requests in parallel
// (two resources on one alias). terraform-plugin-log's masking writes into
// the field map of the context it logs with, so unserialised calls crashed
// the provider with "fatal error: concurrent map iteration and map write".
func TestClientLoggerConcurrent(t *testing.T) {
	// Like a real request: fields set by the framework, then masking.
	ctx := tflogtest.RootLogger(context.Background(), io.Discard)
	ctx = tflog.SetField(ctx, "tf_req_id", "4d7e7a9e-0000-0000-0000-000000000000")
	ctx = tflog.SetField(ctx, "tf_rpc", "ReadResource")
	ctx = tflog.SetField(ctx, "tf_resource_type", "vaultrepl_dr_secondary_token")
	ctx = withMasking(ctx, "s3cr3t-token")
	l := newTFLogger(ctx)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				l.Debug("performing request", "method", "GET", "url", "http://127.0.0.1:8200/v1/sys/health", "goroutine", g, "i", i)
			}
		}()
	}
	wg.Wait()
}
