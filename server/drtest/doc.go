// Package drtest holds end-to-end tests of DR replication on live
// vaultrepl-server processes, driven through the official Vault Go client.
package drtest
