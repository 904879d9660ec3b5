//go:build linux

package adversary

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
	"github.com/wslfwd/wslfwd/internal/waitfor"
	"github.com/wslfwd/wslfwd/lab/labrun"
)

const (
	watchAttempts = 20000
	watchConns    = 40
	// watchWorkers per connection: each keeps the first stream the
	// daemon accepts, so a connection never holds more accepted streams
	// than the daemon's per-connection stream limit.
	watchWorkers = 8
)

// adminConn is a gRPC connection from winhost to the daemon's loopback
// listener with the admin token. Its small fixed receive window makes an
// unread stream stop the daemon's sends, as a stalled reader would.
func adminConn(t *testing.T, env *labrun.Env) *grpc.ClientConn {
	t.Helper()
	tok, err := token.Load(env.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("passthrough:///"+labrun.DaemonLoopback.String(),
		grpc.WithTransportCredentials(tokentls.ClientOf(tok)),
		grpc.WithPerRPCCredentials(tokentls.Bearer{}),
		grpc.WithInitialWindowSize(64<<10),
		grpc.WithInitialConnWindowSize(64<<10),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return env.Lab.WinHost.Dial(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// churn opens and closes 100 listeners in wsl over and over until ctx
// ends, so the agent reports, and the daemon publishes, a steady stream of
// forwards added and removed. It counts the rounds in rounds.
func churn(ctx context.Context, t *testing.T, env *labrun.Env, rounds *atomic.Int64) {
	tick := time.NewTicker(50 * time.Millisecond) // pace, not a wait
	defer tick.Stop()
	for {
		var ls []net.Listener
		for p := 31000; p < 31100; p++ {
			l, err := env.Lab.WSL.Listen("tcp", "0.0.0.0:"+strconv.Itoa(p))
			if err != nil {
				t.Errorf("churn: %v", err)
				return
			}
			ls = append(ls, l)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		for _, l := range ls {
			l.Close()
		}
		rounds.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// watchAttack makes watchAttempts Watch calls over watchConns connections
// and keeps every stream the daemon accepts open and unread. It returns
// the accepted streams and the count of each refusal code.
func watchAttack(ctx context.Context, t *testing.T, env *labrun.Env) ([]wslfwdv1.ControlService_WatchClient, map[codes.Code]int) {
	var (
		left     atomic.Int64
		mu       sync.Mutex
		accepted []wslfwdv1.ControlService_WatchClient
		refused  = map[codes.Code]int{}
		wg       sync.WaitGroup
	)
	left.Store(watchAttempts)
	for range watchConns {
		c := wslfwdv1.NewControlServiceClient(adminConn(t, env))
		for range watchWorkers {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					st, err := c.Watch(ctx, &wslfwdv1.WatchRequest{Initial: true})
					if err == nil {
						md, _ := st.Header()
						if md != nil { // accepted: hold it, unread
							mu.Lock()
							accepted = append(accepted, st)
							mu.Unlock()
							return
						}
						_, err = st.Recv()
					}
					mu.Lock()
					refused[status.Code(err)]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return accepted, refused
}

// 20,000 Watch attempts with the admin token while forwards churn; the
// streams the daemon accepts are never read.
func TestUnreadWatchStreams(t *testing.T) {
	ctx, env := startDaemon(t, 2*time.Minute)
	if _, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: "Ubuntu"}); err != nil {
		t.Fatal(err)
	}
	heavy.Lock()
	defer heavy.Unlock()
	churnCtx, stopChurn := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var rounds atomic.Int64
	wg.Go(func() { churn(churnCtx, t, env, &rounds) })
	defer wg.Wait()
	defer stopChurn()

	start := time.Now()
	accepted, refused := watchAttack(ctx, t, env)
	t.Logf("%d Watch attempts in %v: %d accepted and left unread, refused %v",
		watchAttempts, time.Since(start).Round(time.Millisecond), len(accepted), refused)
	if len(accepted) == 0 || refused[codes.ResourceExhausted] == 0 {
		t.Fatalf("want some watches accepted and the rest ResourceExhausted")
	}
	// Let the unread streams fall behind: 30 more rounds of 100 forwards
	// added and removed are some 6,000 events, well past what a watcher's
	// buffer and the transport's windows hold.
	past := rounds.Load() + 30
	waitfor.Cond(t, time.Minute, "30 rounds of churn", func() bool { return rounds.Load() >= past })
	checkBounded(t, ctx, env, "20,000 Watch attempts, unread streams, churning forwards")
	stopChurn()
	resync(t, accepted[0])
}

// resync reads a stream that fell behind until its resync marker.
func resync(t *testing.T, st wslfwdv1.ControlService_WatchClient) {
	t.Helper()
	for n := 0; ; n++ {
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("unread watch stream, after %d events: %v", n, err)
		}
		if ev.GetResync() != nil {
			t.Logf("the unread watch stream got its resync marker after %d events", n)
			return
		}
	}
}
