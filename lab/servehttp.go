//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// serveHTTPCmd is the demo's service: a real process, with a name the agent
// can see, that the demo starts inside wsl by re-executing the lab binary.
func serveHTTPCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:    "serve-http",
		Short:  "Serve a one-line HTTP greeting until SIGTERM (the demo's service)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveHTTP(cmd.Context(), addr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "0.0.0.0:8080", "address to listen on")
	return cmd
}

func serveHTTP(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve-http: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from the WSL side: pid %d on %s, you are %s\n",
				os.Getpid(), r.Host, r.RemoteAddr)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	slog.Info("serving", "addr", ln.Addr().String(), "pid", os.Getpid())
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve-http: %w", err)
	}
	return nil
}
