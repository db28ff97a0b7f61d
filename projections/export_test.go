package projections

// SetTailPage makes r's tail read n event headers at a time.
func SetTailPage(r *Runner, n int) { r.tailPage = n }
