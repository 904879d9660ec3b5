package relay

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// BenchmarkThroughput sends bulk TCP data to a sink on loopback, directly
// and through the relay; the ratio of the two MB/s figures is the relay's
// cost (the goal is at least 0.8).
func BenchmarkThroughput(b *testing.B) {
	sink := sinkTCP(b)
	b.Run("direct", func(b *testing.B) { bulk(b, sink) })
	b.Run("relay", func(b *testing.B) {
		r := New(Options{Logger: slog.New(slog.DiscardHandler)})
		b.Cleanup(func() { r.Close() })
		e := backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(loopback, freePortB(b)), Connect: sink}
		if err := r.Apply(b.Context(), backend.Batch{Add: []backend.Entry{e}}); err != nil {
			b.Fatal(err)
		}
		bulk(b, e.Listen)
	})
}

// bulk writes b.N chunks over one connection, half-closes, and waits for
// the sink's EOF, so every byte counted has arrived.
func bulk(b *testing.B, at netip.AddrPort) {
	const chunk = 256 << 10
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(at))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.CloseWrite(); err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		b.Fatal(err)
	}
}

// sinkTCP reads and discards everything sent to it, closing each
// connection at EOF.
func sinkTCP(b *testing.B) netip.AddrPort {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 256<<10)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func freePortB(b *testing.B) uint16 {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort().Port()
}
