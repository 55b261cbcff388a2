# Enable performance replication as a primary on the cluster this provider
# talks to. The same cluster can be a DR primary too (vaultrepl_dr_primary):
# the two sets have their own ids and share the cluster port.
resource "vaultrepl_performance_primary" "east" {
  # Where performance secondaries connect. Optional: defaults to the
  # cluster's advertised cluster address.
  primary_cluster_addr = "https://vault-east.example.com:8201"

  # "disable" (default), "demote" for a planned move of the primary role,
  # or "leave" to only forget the resource.
  destroy_action = "disable"
}

output "performance_cluster_id" {
  value = vaultrepl_performance_primary.east.cluster_id
}
