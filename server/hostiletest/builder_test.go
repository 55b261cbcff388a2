package hostiletest

import "github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"

// builder builds the server binary once for this package's tests.
var builder testserver.Builder
