# Performance topology, step 4 (Terraform 1.11 or later): PS, the
# performance secondary, is lost. Promote PS-DR, its DR secondary: it
# becomes the primary of PS's DR set and reconnects to the performance
# primary as the performance secondary "ps", with the secondary token PS
# used. No performance promotion: the set keeps its primary.
#
# PS's seal follows P's, so the key shares are P's (or P-DR's after step 3:
# the same shares).

terraform {
  required_version = ">= 1.11"

  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "ps_dr_address" {
  description = "API address of PS-DR, the DR secondary of the lost performance secondary."
  type        = string
}

variable "token" {
  description = "Token for the provider (only unauthenticated calls need none: the promotion authenticates with the key shares)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "unseal_keys" {
  description = "Unseal key shares of the performance primary's seal (PS unseals with them), at least its threshold."
  type        = list(string)
  sensitive   = true
  ephemeral   = true
}

provider "vaultrepl" {
  address = var.ps_dr_address
  token   = var.token
}

resource "vaultrepl_dr_promotion" "ps_dr" {
  key_shares_wo          = var.unseal_keys
  credentials_wo_version = 1
}

# Read after the promotion: PS-DR as a performance secondary.
data "vaultrepl_performance_status" "ps_dr" {
  depends_on = [vaultrepl_dr_promotion.ps_dr]
}

output "dr_mode" {
  description = "PS-DR's DR mode after the promotion (primary)."
  value       = vaultrepl_dr_promotion.ps_dr.current_mode
}

output "performance_mode" {
  description = "PS-DR's performance mode right after the promotion (secondary)."
  value       = data.vaultrepl_performance_status.ps_dr.mode
}

output "performance_secondary_id" {
  description = "The id PS-DR follows the performance primary under: PS's."
  value       = data.vaultrepl_performance_status.ps_dr.secondary_id
}
