package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/commands"
	"selfcare/domain"
)

// idempotencyTTL is how long a key is remembered.
const idempotencyTTL = 24 * time.Hour

// idempotencyLease is how long a pending key belongs to the request that
// claimed it. Past it, a retry reclaims the key: its holder died (kill -9,
// a lost connection) or is very slow. Each claim has its own id, and the
// command's transaction marks the key applied only if its claim still
// holds (commands.WithIdempotencyKey), so a slow holder that lost its lease
// cannot apply the request a second time.
const idempotencyLease = 30 * time.Second

var (
	errKeyReused     = fmt.Errorf("%w: this Idempotency-Key was used for another request", domain.ErrConflict)
	errKeyInFlight   = fmt.Errorf("%w: a request with this Idempotency-Key is still being processed; retry shortly", domain.ErrConflict)
	errKeyNoResponse = fmt.Errorf("%w: the request with this Idempotency-Key was applied, but its response was lost; read the resource", domain.ErrConflict)
)

// replayPolicy is how a handler tells the idempotency layer that its
// response shows a secret once (a secret access key) and must not be kept
// for a replay: a retry then learns that the request was applied (409)
// and reads the resource.
type replayPolicy struct{ secret bool }

type replayKey struct{}

// showsSecretOnce marks the response of the request as not replayable.
func showsSecretOnce(r *http.Request) {
	if p, ok := r.Context().Value(replayKey{}).(*replayPolicy); ok {
		p.secret = true
	}
}

// secretResponses are the endpoints whose every success is a credential
// (a session token, a signed SSO assertion): storing it to replay it would
// keep a secret in clear and hand it to whoever repeats the request, so
// they refuse an Idempotency-Key (400) instead. A retried sign-in just
// signs in again. (Creating an access key keeps its key: only its answer,
// which shows the secret once, is not stored; see showsSecretOnce.)
var secretResponses = map[string]bool{
	"POST /api/v1/sessions":                    true,
	"POST /api/v1/contracts/{cid}/console/sso": true,
	// The button's sign-in opens a provider session (a cookie).
	"POST /api/v1/contracts/{cid}/console/sign-in": true,
}

// refuseIdempotencyKey answers 400 to a request with an Idempotency-Key.
func refuseIdempotencyKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") != "" {
			fail(w, r, domain.Invalid("Idempotency-Key", "not_allowed",
				"this endpoint answers with a secret, which is never stored for a replay: send it without Idempotency-Key"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// replayed response headers.
var replayHeaders = []string{"Content-Type", "Location", "ETag"}

// idempotent makes a write with an Idempotency-Key header safe to retry:
// the first response is stored and replayed to a retry with the same key and
// body, which changes nothing; the same key with another body is 409.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" || s.deps.Pool == nil {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > 255 {
			fail(w, r, domain.Invalid("Idempotency-Key", "too_long", "at most 255 characters"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			fail(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h := sha256.New()
		fmt.Fprintf(h, "%s\n%s\n", r.Method, r.URL.RequestURI())
		h.Write(body)
		hash := h.Sum(nil)
		who := principalFrom(r.Context()).id(r)

		claim := uuid.NewString()
		claimed, err := s.claimKey(r.Context(), who, key, claim, r, hash)
		if err != nil {
			fail(w, r, err)
			return
		}
		if !claimed {
			s.replay(w, r, who, key, hash)
			return
		}
		rec := &bufferedResponse{header: http.Header{}}
		policy := &replayPolicy{}
		ctx := commands.WithIdempotencyKey(r.Context(), commands.IdempotencyKey{Principal: who, Key: key, Claim: claim})
		ctx = context.WithValue(ctx, replayKey{}, policy)
		func() {
			defer func() {
				if v := recover(); v != nil {
					s.releaseKey(r.Context(), who, key, claim)
					panic(v)
				}
			}()
			next.ServeHTTP(rec, r.WithContext(ctx))
		}()
		switch {
		case rec.status >= 500:
			s.releaseKey(r.Context(), who, key, claim)
		case policy.secret && rec.status < 300:
			// Not stored: the key stays "committed", answered 409.
		default:
			s.storeResponse(r.Context(), who, key, claim, rec)
		}
		rec.flushTo(w)
	})
}

// claimKey records a pending key under claim; false if the key is known,
// and neither expired nor a pending lease past idempotencyLease.
func (s *Server) claimKey(ctx context.Context, who, key, claim string, r *http.Request, hash []byte) (bool, error) {
	now := s.deps.Clock.Now()
	tag, err := s.deps.Pool.Exec(ctx, `
INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state, created_at, claim)
VALUES ($1, $2, $3, $4, $5, 'pending', $6, $9)
ON CONFLICT (principal, key) DO UPDATE
   SET method = excluded.method, path = excluded.path, request_hash = excluded.request_hash,
       state = 'pending', status = NULL, headers = NULL, body = NULL, created_at = excluded.created_at,
       claim = excluded.claim
   WHERE idempotency_keys.created_at < $7
      OR (idempotency_keys.state = 'pending' AND idempotency_keys.created_at < $8)`,
		who, key, r.Method, r.URL.RequestURI(), hash, now, now.Add(-idempotencyTTL), now.Add(-idempotencyLease), claim)
	if err != nil {
		return false, fmt.Errorf("idempotency key: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Server) replay(w http.ResponseWriter, r *http.Request, who, key string, hash []byte) {
	var stored []byte
	var state string
	var status *int
	var headers []byte
	var body []byte
	err := s.deps.Pool.QueryRow(r.Context(), `
SELECT request_hash, state, status, headers, body FROM idempotency_keys WHERE principal = $1 AND key = $2`,
		who, key).Scan(&stored, &state, &status, &headers, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		fail(w, r, errKeyInFlight) // expired and reclaimed between our two reads
		return
	}
	if err != nil {
		fail(w, r, fmt.Errorf("idempotency key: %w", err))
		return
	}
	switch {
	case !bytes.Equal(stored, hash):
		fail(w, r, errKeyReused)
	case state == "pending":
		fail(w, r, errKeyInFlight)
	case state == "committed" || status == nil:
		fail(w, r, errKeyNoResponse)
	default:
		var hs map[string]string
		_ = json.Unmarshal(headers, &hs)
		for k, v := range hs {
			w.Header().Set(k, v)
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(*status)
		_, _ = w.Write(body)
	}
}

func (s *Server) storeResponse(ctx context.Context, who, key, claim string, rec *bufferedResponse) {
	hs := map[string]string{}
	for _, k := range replayHeaders {
		if v := rec.header.Get(k); v != "" {
			hs[k] = v
		}
	}
	headers, _ := json.Marshal(hs)
	_, err := s.deps.Pool.Exec(context.WithoutCancel(ctx), `
UPDATE idempotency_keys SET state = 'done', status = $3, headers = $4, body = $5 WHERE principal = $1 AND key = $2 AND claim = $6`,
		who, key, rec.status, headers, rec.body.Bytes(), claim)
	if err != nil {
		loggerFrom(ctx).Error("store idempotent response", "err", err)
	}
}

// releaseKey forgets a key whose request failed before applying anything,
// so that a retry can go through.
func (s *Server) releaseKey(ctx context.Context, who, key, claim string) {
	_, err := s.deps.Pool.Exec(context.WithoutCancel(ctx),
		`DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND state = 'pending' AND claim = $3`, who, key, claim)
	if err != nil {
		loggerFrom(ctx).Error("release idempotency key", "err", err)
	}
}

// bufferedResponse holds a response until it is stored, then sends it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedResponse) flushTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
