package commands

import (
	"context"
	"fmt"
	"time"
)

// Retention of the side tables of authentication and emails.
const (
	// SentMailRetention: sent (or given up) emails are kept this long, for
	// support, then forgotten (they hold names and addresses).
	SentMailRetention = 30 * 24 * time.Hour
	// SpentTokenRetention: expired set-password links are forgotten after.
	SpentTokenRetention = 7 * 24 * time.Hour
)

// PurgeExpired deletes what can no longer serve: expired captchas,
// sign-in counts of windows long past, set-password links expired for a
// week, the OpenID provider's expired authorization requests and tokens,
// and emails sent or given up a month ago. It is safe to run from
// several processes at once.
func (a *App) PurgeExpired(ctx context.Context, throttle Throttle) error {
	now := a.Now()
	real := time.Now().UTC() // the mail outbox keeps real time
	for _, q := range []struct {
		sql string
		arg time.Time
	}{
		{`DELETE FROM captchas WHERE expires_at <= $1`, now},
		{`DELETE FROM sign_in_attempts WHERE window_start <= $1`, now.Add(-throttle.window())},
		{`DELETE FROM password_tokens WHERE expires_at <= $1`, now.Add(-SpentTokenRetention)},
		{`DELETE FROM oidc_auth_requests WHERE expires_at <= $1`, now},
		{`DELETE FROM oidc_access_tokens WHERE expires_at <= $1`, now},
		{`DELETE FROM mail_outbox WHERE coalesce(sent_at, failed_at) <= $1`, real.Add(-SentMailRetention)},
	} {
		if _, err := a.Store.Pool().Exec(ctx, q.sql, q.arg); err != nil {
			return fmt.Errorf("purge expired: %w", err)
		}
	}
	return nil
}
