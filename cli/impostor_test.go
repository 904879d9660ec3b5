package main

import (
	"context"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/token"
)

// A program that took the daemon's port while the daemon was down, and
// speaks gRPC as the previous release's daemon did (plain HTTP/2), gets
// no call and no token from the CLI, which says why.
func TestImpostorGetsNoToken(t *testing.T) {
	tokenFile := writeOtherToken(t)
	var mu sync.Mutex
	var seen []string // every authorization header that reached it
	record := func(ctx context.Context) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		seen = append(seen, md.Get(token.MetadataKey)...)
		mu.Unlock()
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			record(ctx)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			record(ss.Context())
			return h(srv, ss)
		}),
	)
	wslfwdv1.RegisterControlServiceServer(srv, &fakeControl{status: sampleStatus()})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(srv.Stop)

	for _, args := range [][]string{{"status"}, {"expose", "8080"}, {"watch"}} {
		r := runCLI(t, t.Context(), plainLinux(), append([]string{"--host", l.Addr().String(), "--token-file", tokenFile}, args...)...)
		if r.code != exitFailure {
			t.Errorf("%s: exit %d, want %d", args[0], r.code, exitFailure)
		}
		mustContain(t, args[0]+" stderr", r.stderr, "did not prove it holds the token from "+tokenFile+", so the token was not sent", "answered without TLS",
			"upgrade it (this release's `wslfwd setup`)")
	}
	// The doctor finds something on the port, and says what to do.
	r := runCLI(t, t.Context(), plainLinux(), "--host", l.Addr().String(), "--token-file", tokenFile, "doctor")
	mustContain(t, "doctor", r.stdout, "PASS  daemon reachable", "FAIL  token accepted", "upgrade wslfwd-hostd: run this release's `wslfwd setup`")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Errorf("the impostor got calls with %q", seen)
	}
}
