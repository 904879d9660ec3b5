package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
)

// fakeControl is an in-process ControlService: it answers with canned
// responses and records the requests it got.
type fakeControl struct {
	wslfwdv1.UnimplementedControlServiceServer

	mu       sync.Mutex
	status   *wslfwdv1.GetStatusResponse
	agents   *wslfwdv1.ListAgentsResponse
	forwards *wslfwdv1.ListForwardsResponse
	expose   *wslfwdv1.ExposeResponse
	unexpose *wslfwdv1.UnexposeResponse
	probe    *wslfwdv1.ProbeResponse
	events   []*wslfwdv1.WatchResponse
	// watchErr, when set, ends the watch stream after the events.
	watchErr error
	// err, when set, is returned by every unary call.
	err error

	requests []proto.Message
}

func (f *fakeControl) record(req proto.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	return f.err
}

// last returns the last request received.
func (f *fakeControl) last(t *testing.T) proto.Message {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("the daemon got no request")
	}
	return f.requests[len(f.requests)-1]
}

func (f *fakeControl) GetStatus(_ context.Context, r *wslfwdv1.GetStatusRequest) (*wslfwdv1.GetStatusResponse, error) {
	return f.status, f.record(r)
}

func (f *fakeControl) ListAgents(_ context.Context, r *wslfwdv1.ListAgentsRequest) (*wslfwdv1.ListAgentsResponse, error) {
	return f.agents, f.record(r)
}

func (f *fakeControl) ListForwards(_ context.Context, r *wslfwdv1.ListForwardsRequest) (*wslfwdv1.ListForwardsResponse, error) {
	return f.forwards, f.record(r)
}

func (f *fakeControl) Expose(_ context.Context, r *wslfwdv1.ExposeRequest) (*wslfwdv1.ExposeResponse, error) {
	return f.expose, f.record(r)
}

func (f *fakeControl) Unexpose(_ context.Context, r *wslfwdv1.UnexposeRequest) (*wslfwdv1.UnexposeResponse, error) {
	return f.unexpose, f.record(r)
}

func (f *fakeControl) Probe(_ context.Context, r *wslfwdv1.ProbeRequest) (*wslfwdv1.ProbeResponse, error) {
	return f.probe, f.record(r)
}

func (f *fakeControl) Watch(r *wslfwdv1.WatchRequest, s grpc.ServerStreamingServer[wslfwdv1.WatchResponse]) error {
	if err := f.record(r); err != nil {
		return err
	}
	for _, ev := range f.events {
		if err := s.Send(ev); err != nil {
			return err
		}
	}
	if f.watchErr != nil {
		return f.watchErr
	}
	<-s.Context().Done()
	return nil
}

// daemonFixture is a running fake daemon and a token file it accepts.
type daemonFixture struct {
	fake      *fakeControl
	addr      string
	tokenFile string
}

// startFake serves fake on a loopback port, checking the bearer token the
// way the daemon does; it stops when the test ends.
func startFake(t *testing.T, fake *fakeControl) daemonFixture {
	t.Helper()
	tok, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		for _, v := range md.Get(token.MetadataKey) {
			if got, ok := token.FromHeader(v); ok && token.Equal(got, tok) {
				return nil
			}
		}
		return status.Error(codes.Unauthenticated, "invalid token")
	}
	creds, err := tokentls.Server(nil, tok)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	)
	wslfwdv1.RegisterControlServiceServer(srv, fake)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return daemonFixture{fake: fake, addr: l.Addr().String(), tokenFile: tokenFile}
}

// args prefixes the flags that point the CLI at the fixture.
func (d daemonFixture) args(rest ...string) []string {
	return append([]string{"--host", d.addr, "--token-file", d.tokenFile}, rest...)
}

// plainLinux is an Env for Linux outside WSL with nothing installed and no
// token in the default places; token files named by --token-file are read.
func plainLinux() controlclient.Env {
	return controlclient.Env{
		GOOS:     "linux",
		Getenv:   func(string) string { return "" },
		ReadFile: func(string) ([]byte, error) { return []byte("6.1.0-18-amd64\n"), nil },
		Wslinfo:  func(...string) (string, error) { return "", controlclient.ErrNoWslinfo },
		Gateway4: func() (netip.Addr, error) { return netip.Addr{}, errors.New("no IPv4 default route") },
		HomeDir:  func() (string, error) { return "/nonexistent", nil },
		LoadToken: func(path string) (string, error) {
			if strings.HasPrefix(path, "/var/lib/wslfwd/") {
				return "", fmt.Errorf("token file %s does not exist: %w", path, fs.ErrNotExist)
			}
			return token.Load(path)
		},
		ProgramData: func() (string, error) { return "", errors.New("ProgramData is a Windows folder") },
	}
}

// result is what one CLI run produced.
type result struct {
	stdout, stderr string
	code           int
}

// fixedNow is the clock every test runs at.
var fixedNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// runCLI runs the CLI in-process with env and args.
func runCLI(t *testing.T, ctx context.Context, env controlclient.Env, args ...string) result {
	t.Helper()
	var stdout, stderr syncbuf.Buffer
	a := newApp(env, &stdout, &stderr)
	a.now = func() time.Time { return fixedNow }
	a.loc = time.UTC
	// The distros of the machine the tests run on are not the test's: on
	// Windows (and under Wine, which has no wsl.exe) doctor would list them.
	a.listRunning = nil
	code := run(ctx, args, a)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// mustContain fails unless s contains every one of want.
func mustContain(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}
