package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Bounds of the endpoint's HTTP server. It listens on loopback only and
// answers one small GET, so every bound is tight: a local process that
// opens connections and sends nothing, or sends headers without end,
// holds nothing for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 8 << 10
	// shutdownWait bounds how long scrapes in flight may finish at
	// shutdown.
	shutdownWait = 2 * time.Second
	// maxScrapes bounds the scrapes served at once.
	maxScrapes = 4
)

// Path is where the endpoint serves the figures.
const Path = "/metrics"

// Handler serves m in Prometheus' text format at Path, with the Go
// runtime's and the process's figures (memory, goroutines, CPU, handles):
// what a leak in a long-running daemon shows first. Only GET and HEAD of
// Path are answered.
func Handler(m *Metrics) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{m}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	prom := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A process figure Windows or Wine cannot give must not hide
		// the daemon's own.
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxScrapes,
	})
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, prom) // GET also matches HEAD
	return mux
}

// Serve serves m on l until ctx ends, then shuts the server down and
// closes l. It returns nil after a clean shutdown.
func Serve(ctx context.Context, l net.Listener, m *Metrics, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           Handler(m),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		stopCtx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		if err := srv.Shutdown(stopCtx); err != nil {
			srv.Close()
		}
	}()
	log.Info("serving metrics", "address", "http://"+l.Addr().String()+Path)
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return fmt.Errorf("metrics endpoint: %w", err)
}
