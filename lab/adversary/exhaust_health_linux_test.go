//go:build linux

package adversary

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/wslfwd/wslfwd/lab/labrun"
)

// Large calls without a token, on as many streams as the daemon allows,
// are refused when their headers arrive: the daemon never buffers their
// bodies. The health service was the one call that needed no token, and
// this attack took the daemon past 3 GiB through it.
func TestLargeCallsWithoutToken(t *testing.T) {
	ctx, env := startDaemon(t, time.Minute)
	heavy.Lock()
	defer heavy.Unlock()
	const conns, streams = 32, 16
	req := &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 2<<20)}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got = map[codes.Code]int{}
	)
	for i := range conns {
		src := loopbackSource(i)
		cc, err := grpc.NewClient("passthrough:///"+labrun.DaemonLoopback.String(),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, a string) (c net.Conn, err error) {
				d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
				err = env.Lab.WinHost.Do(func() error { c, err = d.DialContext(ctx, "tcp", a); return err })
				return c, err
			}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		for range streams {
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				_, err := healthpb.NewHealthClient(cc).Check(cctx, req)
				mu.Lock()
				got[status.Code(err)]++
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	t.Logf("%d calls of 2 MiB without a token: %v", conns*streams, got)
	if got[codes.Unauthenticated] != conns*streams {
		t.Errorf("answers %v, want every call Unauthenticated", got)
	}
	checkBounded(t, ctx, env, "large calls without a token")
}
