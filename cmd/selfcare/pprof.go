package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// startPprof serves Go's profiles (net/http/pprof) on SELFCARE_PPROF_ADDR
// when it is set, for any command (serve, bench): an opt-in listener of its
// own, never on the API's address, e.g. SELFCARE_PPROF_ADDR=127.0.0.1:6060
// then `go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10`.
func startPprof(logger *slog.Logger) {
	addr := os.Getenv("SELFCARE_PPROF_ADDR")
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Error("pprof listener not started", "addr", addr, "err", err)
		return
	}
	logger.Warn("serving Go profiles (SELFCARE_PPROF_ADDR): keep this address private", "addr", ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof listener stopped", "err", err)
		}
	}()
}
