# The drill's promotion: the module `make drill` applies to promote the DR
# secondary once its primary is lost, and whose outputs carry the evidence.

terraform {
  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "address" {
  description = "API address of the DR secondary to promote."
  type        = string
}

variable "token" {
  description = "Token for the provider (the DR set's tokens replicate)."
  type        = string
  sensitive   = true
}

variable "unseal_keys" {
  description = "Unseal key shares of the lost primary."
  type        = list(string)
  sensitive   = true
}

provider "vaultrepl" {
  address = var.address
  token   = var.token
}

# force: the primary is gone, so entries it never sent cannot arrive; the
# record says how many the secondary knew of.
resource "vaultrepl_dr_promotion" "this" {
  key_shares = var.unseal_keys
  force      = true
}

output "failover_id" {
  value = vaultrepl_dr_promotion.this.failover_id
}

output "promoted_at" {
  value = vaultrepl_dr_promotion.this.promoted_at
}

output "recovery_point" {
  value = vaultrepl_dr_promotion.this.recovery_point
}

output "unreplicated_entries" {
  value = vaultrepl_dr_promotion.this.unreplicated_entries
}

output "recovery_time_seconds" {
  value = vaultrepl_dr_promotion.this.recovery_time_seconds
}
