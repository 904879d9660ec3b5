package backendtest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

const (
	// trafficTimeout bounds one traffic check.
	trafficTimeout = 30 * time.Second
	// udpRetry is how long a UDP check waits for an answer before it
	// sends again: a datagram may be lost, even on loopback.
	udpRetry = 200 * time.Millisecond
)

// dialAddr is where a client reaches an entry: its listen address, or
// loopback when it listens on every address.
func dialAddr(e backend.Entry) netip.AddrPort {
	a := e.Listen.Addr()
	if a.IsUnspecified() {
		a = netip.IPv6Loopback()
		if a.Is4() {
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	}
	return netip.AddrPortFrom(a, e.Listen.Port())
}

// checkTraffic sends data through the entry to its echo target and checks
// that all of it comes back.
func checkTraffic(t *testing.T, e backend.Entry) {
	t.Helper()
	var err error
	switch e.Protocol {
	case backend.TCP:
		err = echoOverTCP(dialAddr(e), 256<<10)
	case backend.UDP:
		err = echoOverUDP(dialAddr(e))
	default:
		err = fmt.Errorf("no traffic check for protocol %q", e.Protocol)
	}
	if err != nil {
		t.Fatalf("traffic through %s: %v", e, err)
	}
}

// echoOverTCP sends size random bytes, half-closes, and expects exactly
// those bytes back, then EOF.
func echoOverTCP(at netip.AddrPort, size int) error {
	c, err := net.DialTimeout("tcp", at.String(), trafficTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(trafficTimeout))
	sent := make([]byte, size)
	rand.Read(sent)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(sent)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, rerr := io.ReadAll(c)
	if err := <-werr; err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("receive after %d of %d bytes: %w", len(got), size, rerr)
	}
	if !bytes.Equal(got, sent) {
		return fmt.Errorf("echo differs: sent %d bytes, got %d back", size, len(got))
	}
	return nil
}

// echoOverUDP sends a datagram from a socket of its own until the same
// datagram comes back.
func echoOverUDP(at netip.AddrPort) error {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(at))
	if err != nil {
		return err
	}
	defer c.Close()
	msg := []byte("echo " + rand.Text())
	return udpRoundTrip(c, msg)
}

// udpRoundTrip writes msg on a connected socket until it reads it back.
// A read error other than the socket being closed, such as an ICMP error
// from an earlier datagram, means "send again".
func udpRoundTrip(c *net.UDPConn, msg []byte) error {
	buf := make([]byte, 2*len(msg))
	var last error
	for deadline := time.Now().Add(trafficTimeout); time.Now().Before(deadline); {
		if _, err := c.Write(msg); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		c.SetReadDeadline(time.Now().Add(udpRetry))
		for {
			n, err := c.Read(buf)
			if err != nil {
				if isClosed(err) {
					return err
				}
				last = err
				break
			}
			if bytes.Equal(buf[:n], msg) {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo within %v (last error: %v)", trafficTimeout, last)
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
