# Failover, step 4, with no secret in the state (Terraform 1.11 or later):
# the new primary's DR secondaries. Clusters of the DR set that are already
# DR secondaries - the demoted old primary (step 3) and any other secondary
# of the old primary - are re-pointed to the new primary with update-primary,
# WITHOUT a wipe: each keeps its data, and a merkle sync discards the entries
# it has that the new primary never received.
#
# Both clusters are optional, so the same state grows as they become ready:
# apply with secondary2_address right after the promotion (the old primary
# may still be down), then again with old_primary_address once step 3
# demoted it.
#
# update-primary needs a DR operation token of the re-pointed cluster: the
# ephemeral vaultrepl_dr_operation_token generates one there from the DR
# set's unseal key shares for this run, and revokes it when the run ends.
# Activation tokens are ephemeral too. Nothing secret reaches the plan or the
# state. A cluster that is NOT a DR secondary of the DR set would be enabled
# instead, which wipes it: the preconditions below refuse that.

terraform {
  required_version = ">= 1.11"

  required_providers {
    vaultrepl = {
      source = "vaultrepl/vaultrepl"
    }
  }
}

variable "new_primary_address" {
  description = "API address of the promoted cluster (step 2)."
  type        = string
}

variable "token" {
  description = "Token valid on the new primary (the DR set's tokens: the old primary's root token works), with sudo on sys/replication/dr/primary/secondary-token."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "unseal_keys" {
  description = "Unseal key shares of the DR set (the original primary's), at least its threshold: DR operation tokens are generated with them on each cluster to re-point."
  type        = list(string)
  sensitive   = true
  ephemeral   = true
}

variable "old_primary_address" {
  description = "API address of the demoted old primary (step 3). Null while it is still down."
  type        = string
  default     = null
}

variable "old_primary_secondary_id" {
  description = "Secondary id of the old primary under the new primary."
  type        = string
  default     = "dr-1"
}

variable "secondary2_address" {
  description = "API address of another DR secondary of the old primary (dr-2 of step 1). Null if there is none."
  type        = string
  default     = null
}

variable "secondary2_secondary_id" {
  description = "Secondary id of that cluster under the new primary."
  type        = string
  default     = "dr-2"
}

provider "vaultrepl" {
  alias   = "new_primary"
  address = var.new_primary_address
  token   = var.token
}

provider "vaultrepl" {
  alias   = "old_primary"
  address = var.old_primary_address
  token   = var.token
}

provider "vaultrepl" {
  alias   = "secondary2"
  address = var.secondary2_address
  token   = var.token
}

data "vaultrepl_dr_status" "new_primary" {
  provider = vaultrepl.new_primary
}

# --- the demoted old primary ---------------------------------------------

data "vaultrepl_dr_status" "old_primary" {
  count    = var.old_primary_address == null ? 0 : 1
  provider = vaultrepl.old_primary
}

ephemeral "vaultrepl_dr_secondary_token" "old_primary" {
  count        = var.old_primary_address == null ? 0 : 1
  provider     = vaultrepl.new_primary
  secondary_id = var.old_primary_secondary_id
  ttl          = "30m"
}

ephemeral "vaultrepl_dr_operation_token" "old_primary" {
  count      = var.old_primary_address == null ? 0 : 1
  provider   = vaultrepl.old_primary
  key_shares = var.unseal_keys
}

resource "vaultrepl_dr_secondary" "old_primary" {
  count                 = var.old_primary_address == null ? 0 : 1
  provider              = vaultrepl.old_primary
  token_wo              = ephemeral.vaultrepl_dr_secondary_token.old_primary[0].token
  token_wo_version      = 1
  dr_operation_token_wo = ephemeral.vaultrepl_dr_operation_token.old_primary[0].token

  timeouts = {
    create = "10m"
  }

  lifecycle {
    precondition {
      condition     = data.vaultrepl_dr_status.new_primary.mode == "primary"
      error_message = "The cluster at ${var.new_primary_address} is not a DR primary (mode ${coalesce(data.vaultrepl_dr_status.new_primary.mode, "?")}): promote it first (step 2)."
    }
    precondition {
      condition = (
        data.vaultrepl_dr_status.old_primary[0].mode == "secondary" &&
        data.vaultrepl_dr_status.old_primary[0].cluster_id == data.vaultrepl_dr_status.new_primary.cluster_id
      )
      error_message = "The cluster at ${coalesce(var.old_primary_address, "?")} is not a DR secondary of DR set ${coalesce(data.vaultrepl_dr_status.new_primary.cluster_id, "?")} (mode ${coalesce(data.vaultrepl_dr_status.old_primary[0].mode, "?")}): re-pointing it would not work, and enabling it would wipe it. If it is still a primary, demote it first (step 3)."
    }
    # A replacement would wipe the cluster; destroying would disable it.
    prevent_destroy = true
  }
}

# --- another secondary of the old primary ----------------------------------

data "vaultrepl_dr_status" "secondary2" {
  count    = var.secondary2_address == null ? 0 : 1
  provider = vaultrepl.secondary2
}

ephemeral "vaultrepl_dr_secondary_token" "secondary2" {
  count        = var.secondary2_address == null ? 0 : 1
  provider     = vaultrepl.new_primary
  secondary_id = var.secondary2_secondary_id
  ttl          = "30m"
}

ephemeral "vaultrepl_dr_operation_token" "secondary2" {
  count      = var.secondary2_address == null ? 0 : 1
  provider   = vaultrepl.secondary2
  key_shares = var.unseal_keys
}

resource "vaultrepl_dr_secondary" "secondary2" {
  count                 = var.secondary2_address == null ? 0 : 1
  provider              = vaultrepl.secondary2
  token_wo              = ephemeral.vaultrepl_dr_secondary_token.secondary2[0].token
  token_wo_version      = 1
  dr_operation_token_wo = ephemeral.vaultrepl_dr_operation_token.secondary2[0].token

  timeouts = {
    create = "10m"
  }

  lifecycle {
    precondition {
      condition     = data.vaultrepl_dr_status.new_primary.mode == "primary"
      error_message = "The cluster at ${var.new_primary_address} is not a DR primary (mode ${coalesce(data.vaultrepl_dr_status.new_primary.mode, "?")}): promote it first (step 2)."
    }
    precondition {
      condition = (
        data.vaultrepl_dr_status.secondary2[0].mode == "secondary" &&
        data.vaultrepl_dr_status.secondary2[0].cluster_id == data.vaultrepl_dr_status.new_primary.cluster_id
      )
      error_message = "The cluster at ${coalesce(var.secondary2_address, "?")} is not a DR secondary of DR set ${coalesce(data.vaultrepl_dr_status.new_primary.cluster_id, "?")} (mode ${coalesce(data.vaultrepl_dr_status.secondary2[0].mode, "?")}): re-pointing it would not work, and enabling it would wipe it."
    }
    prevent_destroy = true
  }
}

output "cluster_id" {
  description = "Id of the DR set (unchanged by the failover)."
  value       = data.vaultrepl_dr_status.new_primary.cluster_id
}

output "secondary_states" {
  description = "Replication state of each re-pointed secondary after the apply (stream-wals: caught up)."
  value = merge(
    { for s in vaultrepl_dr_secondary.old_primary : s.secondary_id => s.state },
    { for s in vaultrepl_dr_secondary.secondary2 : s.secondary_id => s.state },
  )
}
