package order

// Stream returns the name of the stream holding every order event of
// contract contractID: "orders-<contract id>" (see the package comment).
func Stream(contractID string) string { return "orders-" + contractID }
