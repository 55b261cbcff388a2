package hostiletest

import "github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"

// builder builds the server binary once for every test in this package.
var builder testserver.Builder
