# The DR set's failovers, newest first, as the server measured them.
data "vaultrepl_dr_failover_history" "this" {}

# What an auditor asks after a DR test: recovery time and data loss.
output "last_failover" {
  value = length(data.vaultrepl_dr_failover_history.this.failovers) == 0 ? null : {
    promoted_at           = data.vaultrepl_dr_failover_history.this.failovers[0].promoted_at
    recovery_time_seconds = data.vaultrepl_dr_failover_history.this.failovers[0].recovery_time_seconds
    recovery_point        = data.vaultrepl_dr_failover_history.this.failovers[0].recovery_point
    unreplicated_entries  = data.vaultrepl_dr_failover_history.this.failovers[0].unreplicated_entries
    discarded_writes      = data.vaultrepl_dr_failover_history.this.failovers[0].discarded_writes
  }
}
