# Keep the "kv-us" and "pki-us" mounts off the performance secondary
# "perf-eu". The filter lives on the performance primary, keyed by the
# secondary's id, as in Vault Enterprise; it may exist before the secondary.
resource "vaultrepl_performance_paths_filter" "eu" {
  provider     = vaultrepl.east
  secondary_id = "perf-eu"
  mode         = "deny"
  paths        = ["kv-us/", "pki-us/"]

  depends_on = [vaultrepl_performance_primary.east]
}

# Or replicate only what the secondary serves:
#
# resource "vaultrepl_performance_paths_filter" "eu" {
#   provider     = vaultrepl.east
#   secondary_id = "perf-eu"
#   mode         = "allow"
#   paths        = ["kv-eu/", "secret/"]
# }
