# Performance topology, step 3 (Terraform 1.11 or later): P, the
# performance primary, is lost. Promote P-DR, its DR secondary, with P's
# unseal key shares: it becomes the primary of P's DR set AND the
# performance primary of P's performance replication set, and PS (the
# performance secondary) follows it. vaultrepl_performance_promotion
# records and checks the second half.
#
# Only P-DR is touched, so this works while P is unreachable. If P comes
# back it must be demoted and re-pointed at P-DR, as in
# examples/failover-ephemeral steps 3 and 4.

terraform {
  required_version = ">= 1.11"

  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "p_dr_address" {
  description = "API address of P-DR, the DR secondary of the lost performance primary."
  type        = string
}

variable "token" {
  description = "Token for the provider (after the promotion P-DR honours P's tokens)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "unseal_keys" {
  description = "Unseal key shares of P, at least its threshold."
  type        = list(string)
  sensitive   = true
  ephemeral   = true
}

provider "vaultrepl" {
  address = var.p_dr_address
  token   = var.token
}

resource "vaultrepl_dr_promotion" "p_dr" {
  key_shares_wo          = var.unseal_keys
  credentials_wo_version = 1
}

resource "vaultrepl_performance_promotion" "p_dr" {
  depends_on = [vaultrepl_dr_promotion.p_dr]
}

output "dr_mode" {
  description = "P-DR's DR mode after the promotion (primary)."
  value       = vaultrepl_dr_promotion.p_dr.current_mode
}

output "performance_mode" {
  description = "P-DR's performance mode after the promotion (primary)."
  value       = vaultrepl_performance_promotion.p_dr.current_mode
}

output "performance_cluster_id" {
  description = "The performance replication set P-DR leads: P's."
  value       = vaultrepl_performance_promotion.p_dr.cluster_id
}
