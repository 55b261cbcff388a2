# Import an admitted secondary by its secondary id. The activation token
# cannot be read back, so `token` stays null after the import.
terraform import vaultrepl_dr_secondary_token.west dr-west
