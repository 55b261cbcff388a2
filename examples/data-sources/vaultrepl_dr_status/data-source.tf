data "vaultrepl_dr_status" "this" {}

# On a primary: which secondaries are connected.
output "connected_secondaries" {
  value = [for s in coalesce(data.vaultrepl_dr_status.this.secondaries, []) : s.node_id if s.connection_status == "connected"]
}

# On a secondary: is it caught up and streaming?
output "state" {
  value = data.vaultrepl_dr_status.this.state
}
