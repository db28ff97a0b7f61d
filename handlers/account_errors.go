package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"selfcare/internal/app"
)

// failAccount is fail for the account and credential endpoints: it adds
// Retry-After to a throttled answer (429).
func failAccount(w http.ResponseWriter, r *http.Request, err error) {
	var throttled *app.ThrottledError
	if errors.As(err, &throttled) {
		w.Header().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter.Seconds())))
		err = fmt.Errorf("%w: %v", errThrottled, throttled)
	}
	fail(w, r, err)
}
