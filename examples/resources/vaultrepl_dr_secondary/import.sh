# Import a running DR secondary by its secondary id (the provider must point
# at the secondary). The token cannot be read back: the token set in the
# configuration afterwards is only stored, it does not replace the resource.
terraform import vaultrepl_dr_secondary.west dr-west
