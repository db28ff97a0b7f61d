package subscription

// Stream returns the name of the stream of the subscription ref (the
// reference of its order): "subscription-<ref>".
func Stream(ref string) string { return "subscription-" + ref }
