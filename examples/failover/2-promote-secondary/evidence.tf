# The failover's evidence, measured by the server. Recovery time needs the
# first write after the promotion: run `terraform apply -refresh-only` once
# clients write again, and these outputs fill in.

output "recovery_point" {
  description = "Commit time of the last entry the promoted cluster holds from the lost primary."
  value       = vaultrepl_dr_promotion.this.recovery_point
}

output "unreplicated_entries" {
  description = "Entries the secondary knew the lost primary had and it did not."
  value       = vaultrepl_dr_promotion.this.unreplicated_entries
}

output "recovery_time_seconds" {
  description = "First write accepted after the promotion minus the lost primary's last heartbeat (null until that write)."
  value       = vaultrepl_dr_promotion.this.recovery_time_seconds
}
