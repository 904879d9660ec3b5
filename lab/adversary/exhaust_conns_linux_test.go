//go:build linux

package adversary

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
	"github.com/wslfwd/wslfwd/lab/labrun"
)

// 20,000 connections without a token, held open, from 250 loopback
// addresses and from the distro: the daemon keeps answering its admin and
// stays small.
func TestIdleConnectionsWithoutToken(t *testing.T) {
	ctx, env := startDaemon(t, 2*time.Minute)
	heavy.Lock()
	defer heavy.Unlock()
	start := time.Now()
	lo, _ := flood(t, env.Lab.WinHost, floodSpec{Dst: labrun.DaemonLoopback, N: 15000, Loopback: true})
	wsl, _ := flood(t, env.Lab.WSL, floodSpec{Dst: labrun.DaemonWSL, N: 5000})
	t.Logf("opened %d connections from loopback and %d from wsl in %v", lo, wsl, time.Since(start).Round(time.Millisecond))
	if lo+wsl < 20000 {
		// The daemon stopped accepting: status will tell how badly.
		t.Errorf("opened only %d of 20,000 connections", lo+wsl)
	}
	expectClosedPastLimits(t, checkBounded(t, ctx, env, "20,000 idle connections"), "20,000 idle connections")
}

// 18,000 connections that complete the HTTP/2 preface and never send a
// token.
func TestPrefaceWithoutToken(t *testing.T) {
	ctx, env := startDaemon(t, 2*time.Minute)
	heavy.Lock()
	defer heavy.Unlock()
	start := time.Now()
	lo, _ := flood(t, env.Lab.WinHost, floodSpec{Dst: labrun.DaemonLoopback, N: 13000, Loopback: true, Preface: true})
	wsl, _ := flood(t, env.Lab.WSL, floodSpec{Dst: labrun.DaemonWSL, N: 5000, Preface: true})
	t.Logf("opened %d HTTP/2 connections from loopback and %d from wsl in %v", lo, wsl, time.Since(start).Round(time.Millisecond))
	if lo+wsl < 18000 {
		t.Errorf("opened only %d of 18,000 connections", lo+wsl)
	}
	expectClosedPastLimits(t, checkBounded(t, ctx, env, "18,000 HTTP/2 connections without a token"), "18,000 HTTP/2 connections without a token")
}

// headerBlock is one HTTP/2 header block of about size bytes: a request
// with one header whose value hpack cannot compress.
func headerBlock(size int) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/wslfwd.v1.ControlService/GetStatus"},
		{":authority", "x"}, {"content-type", "application/grpc"}, {"x-pad", strings.Repeat("~", size)}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return b.Bytes()
}

// sendHeaderBlock sends block as one HEADERS frame and CONTINUATION frames
// of the default maximum frame size, until the daemon closes the
// connection. It returns how much it could send.
func sendHeaderBlock(c interface{ Write([]byte) (int, error) }, block []byte) int {
	fr := http2.NewFramer(c, nil)
	if _, err := c.Write(http2Preface); err != nil {
		return 0
	}
	const frame = 16 << 10
	sent := 0
	for sent < len(block) {
		n := min(frame, len(block)-sent)
		end := sent+n == len(block)
		var err error
		if sent == 0 {
			err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:n], EndHeaders: end})
		} else {
			err = fr.WriteContinuation(1, end, block[sent:sent+n])
		}
		if err != nil {
			break
		}
		sent += n
	}
	return sent
}

// 16 header blocks of 15 MiB each, at once, without a token.
func TestHugeHeaderBlocks(t *testing.T) {
	ctx, env := startDaemon(t, 2*time.Minute)
	heavy.Lock()
	defer heavy.Unlock()
	block := headerBlock(15 << 20)
	var wg sync.WaitGroup
	sent := make([]int, 16)
	for i := range sent {
		c, err := env.Lab.WinHost.Dial(ctx, "tcp", labrun.DaemonLoopback.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		wg.Go(func() { sent[i] = sendHeaderBlock(c, block) })
	}
	wg.Wait()
	t.Logf("16 header blocks of %d bytes: sent %v bytes of each (socket buffers included) before the daemon closed the connection", len(block), sent)
	for _, n := range sent {
		if n == len(block) {
			t.Errorf("the daemon read a whole %d-byte header block", n)
		}
	}
	checkBounded(t, ctx, env, "16 header blocks of 15 MiB")
}

// An attacker on loopback that keeps remaking its connections as fast as
// it can, so that they are always the newest pending ones, while the
// admin runs `wslfwd status` again and again: every call must succeed.
// The admin's connection has sent its preface, which the attacker's have
// not, so theirs give way first (hostd-windows/server's unit tests pin
// that order; here the whole daemon meets a real flood). (An attacker that also sends the preface on
// every connection it remakes can still get the admin's connection closed
// before its first call: only the token tells the two apart. SECURITY.md
// says so.)
//
// How long a call takes is not the daemon's to bound here: the attacker
// fills the listening socket's accept queue (4,096 connections), so the
// admin's connection either waits behind it until the daemon has accepted
// what came before (about 3,600 a second on a loaded 2-vCPU machine), or,
// when the queue is full as its SYN arrives, is dropped and tried again a
// second later. A full queue during the call shows in ListenOverflows (in
// the daemon's namespace, attacker's drops included), and the test asserts
// only that a call slower than maxStatusTime met one. That is the signal
// for both delays: counting the admin's own handshake packets instead
// (nftables, per client port) found calls of 1.1-2.6 s with no packet of
// theirs resent, every one of them during a full queue.
func TestReconnectingFlood(t *testing.T) {
	ctx, env := startDaemon(t, 2*time.Minute)
	heavy.Lock()
	defer heavy.Unlock()
	held, stop := flood(t, env.Lab.WinHost, floodSpec{Dst: labrun.DaemonLoopback, N: 2 * perChild, Loopback: true, Reconnect: true})
	start := time.Now()
	var worst time.Duration
	var slowedByQueue int
	const calls = 20
	for range calls {
		before := listenOverflows(t, env.Daemon.Pid())
		took := statusTime(t, ctx, env)
		dropped := listenOverflows(t, env.Daemon.Pid()) - before
		if took > maxStatusTime && dropped == 0 {
			t.Errorf("wslfwd status took %v under a reconnecting flood with no handshake dropped by a full accept queue, want ≤ %v", took, maxStatusTime)
		}
		if dropped > 0 {
			slowedByQueue++
		}
		worst = max(worst, took)
	}
	again := stop()
	took := time.Since(start)
	t.Logf("%d connections held and remade %d times in %v (%.0f a second); the slowest of %d `wslfwd status` took %v; %d met a full accept queue",
		held, again, took.Round(time.Millisecond), float64(again)/took.Seconds(), calls, worst.Round(time.Millisecond), slowedByQueue)
	expectClosedPastLimits(t, checkBounded(t, ctx, env, "a reconnecting flood"), "a reconnecting flood")
}

// Root in a distro can read the agent token, so it can make the daemon do
// its whole part of a TLS handshake, the costliest thing a connection
// asks of it (a key agreement and a signature), and it can ask again as
// fast as it can remake connections. The daemon keeps answering the
// admin, whose connections come on another listener (loopback) but share
// the daemon's one thread, and stays within its memory bound.
func TestHandshakeFlood(t *testing.T) {
	ctx, env := startDaemon(t, 2*time.Minute)
	tok, err := token.Load(env.AgentTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	hello := clientHello(t, tok)
	heavy.Lock()
	defer heavy.Unlock()
	held, stop := flood(t, env.Lab.WSL, floodSpec{Dst: labrun.DaemonWSL, N: perChild, Reconnect: true, Hello: hello})
	start := time.Now()
	var worst time.Duration
	const calls = 20
	for range calls {
		worst = max(worst, statusTime(t, ctx, env))
	}
	again := stop()
	took := time.Since(start)
	t.Logf("%d connections held and remade %d times in %v (%.0f handshakes a second); the slowest of %d `wslfwd status` took %v",
		held, again, took.Round(time.Millisecond), float64(again)/took.Seconds(), calls, worst.Round(time.Millisecond))
	if worst > maxStatusTime {
		t.Errorf("wslfwd status took %v under a handshake flood, want ≤ %v", worst, maxStatusTime)
	}
	checkBounded(t, ctx, env, "a handshake flood")
}

// clientHello is the first flight of this release's client holding tok:
// the TLS ClientHello that asks the daemon to prove it holds tok.
func clientHello(t *testing.T, tok string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		defer c.Close()
		tokentls.ClientOf(tok).ClientHandshake(context.Background(), "", c)
	}()
	buf := make([]byte, 16<<10)
	n, err := s.Read(buf)
	if err != nil {
		t.Fatalf("capture a ClientHello: %v", err)
	}
	return buf[:n]
}
