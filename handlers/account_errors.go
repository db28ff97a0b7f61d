package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"selfcare/internal/app"
)

// failAccount is fail for the account and credential endpoints: it adds
// Retry-After to a throttled answer (429) and maps the errors of package
// app that have no domain sentinel.
func failAccount(w http.ResponseWriter, r *http.Request, err error) {
	var throttled *app.ThrottledError
	switch {
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter.Seconds())))
		err = fmt.Errorf("%w: %v", errThrottled, throttled)
	case errors.Is(err, app.ErrProfileChanged):
		err = fmt.Errorf("%w: %v", errPreconditionFail, err)
	}
	fail(w, r, err)
}
