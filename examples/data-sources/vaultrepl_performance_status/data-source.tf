data "vaultrepl_performance_status" "this" {}

# On a performance primary: which performance secondaries are connected.
output "connected_performance_secondaries" {
  value = [for s in coalesce(data.vaultrepl_performance_status.this.secondaries, []) : s.node_id if s.connection_status == "connected"]
}

# On a performance secondary: which primary it follows, and its state.
output "follows" {
  value = data.vaultrepl_performance_status.this.primary_cluster_addr
}
