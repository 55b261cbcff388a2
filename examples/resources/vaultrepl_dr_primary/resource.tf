# Enable DR replication as a primary on the cluster this provider talks to.
resource "vaultrepl_dr_primary" "east" {
  # Where secondaries connect (the cluster port, by default API port + 1).
  # Optional: defaults to the cluster's advertised cluster address.
  primary_cluster_addr = "https://vault-east.example.com:8201"

  # What `terraform destroy` does: "disable" (default), "demote" for a
  # planned failover, or "leave" to only forget the resource.
  destroy_action = "demote"
}

output "dr_cluster_id" {
  value = vaultrepl_dr_primary.east.cluster_id
}
