package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the HTTP server. Slow or idle clients cannot hold
// connections open for long, and a request cannot run for ever (the store
// calls inside are bounded more tightly still).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10 // room for a few oversized cookies, not for abuse
	// shutdownTimeout is how long in-flight requests get to finish after
	// ctx is cancelled before their connections are closed: the grace
	// period less what the caller keeps to close the store.
	shutdownTimeout = ShutdownGrace - CloseReserve
)

// ShutdownGrace is how long a server may take, from the cancellation of
// its context (SIGTERM) to its exit, whatever the store does. Serve spends
// at most ShutdownGrace - CloseReserve letting in-flight requests finish;
// the caller closes the store in what is left (sessionmon serve waits for
// it no longer than that, so a hung database cannot hold the exit: the
// pgx pool alone waits 15 s per hung connection).
const (
	ShutdownGrace = 10 * time.Second
	CloseReserve  = 2 * time.Second
)

// ListenAndServe listens on addr and serves h until ctx is cancelled (main
// cancels it on SIGINT or SIGTERM), then shuts down gracefully.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return Serve(ctx, ln, h, log)
}

// Serve serves h on ln until ctx is cancelled, then stops accepting, lets
// in-flight requests finish for up to ShutdownGrace - CloseReserve (8 s),
// and closes what is left. It returns nil after a clean shutdown. Serve
// closes ln. A request cut off by the close was never answered, so its
// client never took it as done; every answered write was committed first.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("http server listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("http server shutting down", "grace", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		log.Warn("http server: graceful shutdown incomplete, closing connections", "err", err)
		_ = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	log.Info("http server stopped")
	return nil
}
