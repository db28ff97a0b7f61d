package billing

// Stream returns the name of the stream of a contract's Ledger for a
// period: "billing-<contract id>-<YYYY-MM>" (see the package comment).
func Stream(contractID string, p Period) string { return "billing-" + contractID + "-" + p.String() }
