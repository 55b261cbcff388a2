// Package hatest runs HA clusters of real server processes that share one
// throwaway PostgreSQL database (internal/testserver) and checks the lock,
// the fencing, request forwarding and the sys/ HA endpoints.
package hatest
