data "vaultrepl_replication_status" "this" {}

output "modes" {
  value = {
    dr          = data.vaultrepl_replication_status.this.dr_mode
    performance = data.vaultrepl_replication_status.this.performance_mode
  }
}
