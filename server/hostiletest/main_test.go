package hostiletest

import (
	"os"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// builder builds the server binary once for every test in this package.
var builder testserver.Builder

// TestMain stops the PostgreSQL server that the listener tests' servers
// (started without -dev) start under VAULTREPL_TEST_STORAGE=postgresql.
func TestMain(m *testing.M) { os.Exit(testserver.RunWithPostgres(m)) }
