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

// idempotencyLease is how long a request holds its pending key: a retry
// after that (the first request's server died) takes the key over.
const idempotencyLease = 30 * time.Second

var (
	errKeyReused     = fmt.Errorf("%w: this Idempotency-Key was used for another request", domain.ErrConflict)
	errKeyInFlight   = fmt.Errorf("%w: a request with this Idempotency-Key is still being processed; retry shortly", domain.ErrConflict)
	errKeyNoResponse = fmt.Errorf("%w: the request with this Idempotency-Key was applied, but its response was lost; read the resource", domain.ErrConflict)
)

// replayPolicy is how a handler tells the idempotency layer that its
// response shows a secret (a session token, a console assertion, a secret
// access key) and must never be kept for a replay: a retry then learns that the request was applied (409)
// and reads the resource.
type replayPolicy struct{ secret bool }

type replayKey struct{}

// showsSecretOnce marks the response of the request as not replayable.
func showsSecretOnce(r *http.Request) {
	if p, ok := r.Context().Value(replayKey{}).(*replayPolicy); ok {
		p.secret = true
	}
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

		holder := uuid.New()
		claimed, err := s.claimKey(r.Context(), who, key, holder, r, hash)
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
		ctx := commands.WithIdempotencyKey(r.Context(), commands.IdempotencyKey{Principal: who, Key: key, Holder: holder})
		ctx = context.WithValue(ctx, replayKey{}, policy)
		func() {
			defer func() {
				if v := recover(); v != nil {
					s.releaseKey(r.Context(), who, key, holder)
					panic(v)
				}
			}()
			next.ServeHTTP(rec, r.WithContext(ctx))
		}()
		switch {
		case rec.status >= 500:
			s.releaseKey(r.Context(), who, key, holder)
		case policy.secret && rec.status < 300:
			// Never stored: a retry learns that the request was applied
			// (409) and does not get the secret again.
			s.markApplied(r.Context(), who, key, holder)
		default:
			s.storeResponse(r.Context(), who, key, holder, rec)
		}
		rec.flushTo(w)
	})
}

// claimKey records a pending key held by holder; false if the key is
// already known. A key older than idempotencyTTL is forgotten; a pending
// one whose lease ran out (its request's server died) is taken over by a
// retry of the same request.
func (s *Server) claimKey(ctx context.Context, who, key string, holder uuid.UUID, r *http.Request, hash []byte) (bool, error) {
	now := s.deps.Clock.Now()
	tag, err := s.deps.Pool.Exec(ctx, `
INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state, created_at, holder)
VALUES ($1, $2, $3, $4, $5, 'pending', $6, $9)
ON CONFLICT (principal, key) DO UPDATE
   SET method = excluded.method, path = excluded.path, request_hash = excluded.request_hash,
       state = 'pending', status = NULL, headers = NULL, body = NULL, created_at = excluded.created_at,
       holder = excluded.holder
   WHERE idempotency_keys.created_at < $7
      OR (idempotency_keys.state = 'pending' AND idempotency_keys.created_at < $8
          AND idempotency_keys.request_hash = excluded.request_hash)`,
		who, key, r.Method, r.URL.RequestURI(), hash, now, now.Add(-idempotencyTTL), now.Add(-idempotencyLease), holder)
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

func (s *Server) storeResponse(ctx context.Context, who, key string, holder uuid.UUID, rec *bufferedResponse) {
	hs := map[string]string{}
	for _, k := range replayHeaders {
		if v := rec.header.Get(k); v != "" {
			hs[k] = v
		}
	}
	headers, _ := json.Marshal(hs)
	_, err := s.deps.Pool.Exec(context.WithoutCancel(ctx), `
UPDATE idempotency_keys SET state = 'done', status = $3, headers = $4, body = $5 WHERE principal = $1 AND key = $2 AND holder = $6`,
		who, key, rec.status, headers, rec.body.Bytes(), holder)
	if err != nil {
		loggerFrom(ctx).Error("store idempotent response", "err", err)
	}
}

// markApplied records that the request of a pending key was applied,
// without its response (which shows a secret).
func (s *Server) markApplied(ctx context.Context, who, key string, holder uuid.UUID) {
	_, err := s.deps.Pool.Exec(context.WithoutCancel(ctx),
		`UPDATE idempotency_keys SET state = 'committed' WHERE principal = $1 AND key = $2 AND holder = $3`, who, key, holder)
	if err != nil {
		loggerFrom(ctx).Error("mark idempotency key applied", "err", err)
	}
}

// releaseKey forgets a key whose request failed before applying anything,
// so that a retry can go through.
func (s *Server) releaseKey(ctx context.Context, who, key string, holder uuid.UUID) {
	_, err := s.deps.Pool.Exec(context.WithoutCancel(ctx),
		`DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND state = 'pending' AND holder = $3`, who, key, holder)
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
