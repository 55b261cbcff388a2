# Failover, step 4: the new primary's DR secondaries. Clusters of the DR set
# that are already DR secondaries - the demoted old primary (step 3) and any
# other secondary of the old primary - are re-pointed to the new primary with
# update-primary, WITHOUT a wipe: each keeps its data, and a merkle sync
# discards the entries it has that the new primary never received.
#
# Both clusters are optional, so the same state grows as they become ready:
# apply with secondary2_* right after the promotion (the old primary may still
# be down), then again with old_primary_* once step 3 demoted it.
#
# update-primary needs a DR operation token of the re-pointed cluster, which
# vaultrepl_dr_secondary takes as dr_operation_token. Generate it on that
# cluster with the DR set's unseal key shares (the original primary's) just
# before the apply, or use a DR operation batch token created on the primary
# in advance; see README.md. A cluster that is NOT a DR secondary of the DR
# set would be enabled instead, which wipes it: the preconditions below
# refuse that. (A rebuilt, empty cluster joins as a new secondary, with
# resources like those of step 1.)

terraform {
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
}

variable "old_primary_address" {
  description = "API address of the demoted old primary (step 3). Null while it is still down."
  type        = string
  default     = null
}

variable "old_primary_dr_operation_token" {
  description = "DR operation token generated on the old primary after its demotion, or a DR operation batch token. Required with old_primary_address."
  type        = string
  default     = null
  sensitive   = true
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

variable "secondary2_dr_operation_token" {
  description = "DR operation token generated on that secondary, or a DR operation batch token. Required with secondary2_address."
  type        = string
  default     = null
  sensitive   = true
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

resource "vaultrepl_dr_secondary_token" "old_primary" {
  count        = var.old_primary_address == null ? 0 : 1
  provider     = vaultrepl.new_primary
  secondary_id = var.old_primary_secondary_id
  ttl          = "30m"

  lifecycle {
    precondition {
      condition     = data.vaultrepl_dr_status.new_primary.mode == "primary"
      error_message = "The cluster at ${var.new_primary_address} is not a DR primary (mode ${coalesce(data.vaultrepl_dr_status.new_primary.mode, "?")}): promote it first (step 2)."
    }
  }
}

resource "vaultrepl_dr_secondary" "old_primary" {
  count              = var.old_primary_address == null ? 0 : 1
  provider           = vaultrepl.old_primary
  token              = vaultrepl_dr_secondary_token.old_primary[0].token
  dr_operation_token = var.old_primary_dr_operation_token

  timeouts = {
    create = "10m"
  }

  lifecycle {
    precondition {
      condition = (
        data.vaultrepl_dr_status.old_primary[0].mode == "secondary" &&
        data.vaultrepl_dr_status.old_primary[0].cluster_id == data.vaultrepl_dr_status.new_primary.cluster_id
      )
      error_message = "The cluster at ${coalesce(var.old_primary_address, "?")} is not a DR secondary of DR set ${coalesce(data.vaultrepl_dr_status.new_primary.cluster_id, "?")} (mode ${coalesce(data.vaultrepl_dr_status.old_primary[0].mode, "?")}): re-pointing it would not work, and enabling it would wipe it. If it is still a primary, demote it first (step 3)."
    }
    # The operation token is used once, by update-primary; later applies
    # need not supply a fresh one.
    ignore_changes = [dr_operation_token]
    # A replacement would wipe the cluster; destroying would disable it.
    prevent_destroy = true
  }
}

# --- another secondary of the old primary ----------------------------------

data "vaultrepl_dr_status" "secondary2" {
  count    = var.secondary2_address == null ? 0 : 1
  provider = vaultrepl.secondary2
}

resource "vaultrepl_dr_secondary_token" "secondary2" {
  count        = var.secondary2_address == null ? 0 : 1
  provider     = vaultrepl.new_primary
  secondary_id = var.secondary2_secondary_id
  ttl          = "30m"

  lifecycle {
    precondition {
      condition     = data.vaultrepl_dr_status.new_primary.mode == "primary"
      error_message = "The cluster at ${var.new_primary_address} is not a DR primary (mode ${coalesce(data.vaultrepl_dr_status.new_primary.mode, "?")}): promote it first (step 2)."
    }
  }
}

resource "vaultrepl_dr_secondary" "secondary2" {
  count              = var.secondary2_address == null ? 0 : 1
  provider           = vaultrepl.secondary2
  token              = vaultrepl_dr_secondary_token.secondary2[0].token
  dr_operation_token = var.secondary2_dr_operation_token

  timeouts = {
    create = "10m"
  }

  lifecycle {
    precondition {
      condition = (
        data.vaultrepl_dr_status.secondary2[0].mode == "secondary" &&
        data.vaultrepl_dr_status.secondary2[0].cluster_id == data.vaultrepl_dr_status.new_primary.cluster_id
      )
      error_message = "The cluster at ${coalesce(var.secondary2_address, "?")} is not a DR secondary of DR set ${coalesce(data.vaultrepl_dr_status.new_primary.cluster_id, "?")} (mode ${coalesce(data.vaultrepl_dr_status.secondary2[0].mode, "?")}): re-pointing it would not work, and enabling it would wipe it."
    }
    ignore_changes  = [dr_operation_token]
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
