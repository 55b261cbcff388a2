# Admit secondary "dr-west" on the primary. The token is minted once: after
# the secondary consumes it, the resource still exists (the primary lists
# "dr-west" in known_secondaries), so no plan mints a new one by itself.
resource "vaultrepl_dr_secondary_token" "west" {
  provider     = vaultrepl.east
  secondary_id = "dr-west"
  ttl          = "30m"

  depends_on = [vaultrepl_dr_primary.east]
}

# Optionally, encrypt the activation bundle to a key generated on the
# secondary (sys/replication/dr/secondary/generate-public-key): enabling it
# then needs no call to the primary's API.
resource "vaultrepl_dr_secondary_token" "south" {
  provider             = vaultrepl.east
  secondary_id         = "dr-south"
  secondary_public_key = var.south_public_key

  depends_on = [vaultrepl_dr_primary.east]
}

variable "south_public_key" {
  type = string
}
