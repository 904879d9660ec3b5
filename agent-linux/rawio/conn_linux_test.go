//go:build linux

package rawio_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/internal/socktest"
	"github.com/wslfwd/wslfwd/agent-linux/rawio"
)

// pair returns both ends of a loopback TCP connection, the dialled one
// wrapped.
func pair(t *testing.T) (*rawio.Conn, net.Conn) {
	t.Helper()
	c, peer := socktest.Pair(t, "127.0.0.1")
	w, err := rawio.Wrap(c)
	if err != nil {
		t.Fatal(err)
	}
	return w, peer
}

// A write bigger than both sockets' buffers must wait for room (EAGAIN,
// then the netpoller) and still deliver every byte, in order.
func TestWriteMoreThanTheBuffersHold(t *testing.T) {
	c, peer := pair(t)
	want := make([]byte, 16<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(peer)
		got <- b
	}()
	n, err := c.Write(want)
	if err != nil || n != len(want) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
	}
	c.CloseWrite()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("peer read %d bytes, not the %d written (or not in order)", len(b), len(want))
	}
}

// Read waits for data, returns what arrived, and io.EOF at the end.
func TestReadWaitsThenEOF(t *testing.T) {
	c, peer := pair(t)
	go func() {
		peer.Write([]byte("hello"))
		peer.Close()
	}()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		t.Fatalf("ReadAll = %q, %v; want hello, nil", b, err)
	}
	if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after the end = %d, %v; want 0, io.EOF", n, err)
	}
}

// Deadlines still apply: the wait is the netpoller's.
func TestReadDeadline(t *testing.T) {
	c, _ := pair(t)
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := c.Read(make([]byte, 8))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "read" {
		t.Fatalf("Read past the deadline: %v, want a *net.OpError for read", err)
	}
}

// A socket error comes back as the syscall's error.
func TestWriteAfterPeerReset(t *testing.T) {
	c, peer := pair(t)
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close() // RST
	var err error
	for range 100 { // the RST arrives at once on loopback; a few writes see it
		if _, err = c.Write([]byte("x")); err != nil {
			break
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		c.Read(make([]byte, 1))
	}
	var se *os.SyscallError
	if !errors.As(err, &se) || se.Syscall != "write" {
		t.Fatalf("Write to a reset connection: %v, want an *os.SyscallError from write", err)
	}
}

// Reads and writes of length zero do nothing.
func TestEmpty(t *testing.T) {
	c, _ := pair(t)
	if n, err := c.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v", n, err)
	}
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
}

// The point is to be cheap: a write and a read allocate nothing.
func TestNoAllocations(t *testing.T) {
	c, peer := pair(t)
	one, back := []byte{1}, make([]byte, 1)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Write(one); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(peer, back); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Write(one); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(back); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a raw write and read made %v allocations, want none", allocs)
	}
}

// Writes from several goroutines at once each arrive whole (run with
// -race: their state is per call).
func TestConcurrentWrites(t *testing.T) {
	c, peer := pair(t)
	const writers, size = 4, 1 << 16
	done := make(chan error, writers)
	for w := range writers {
		go func() {
			_, err := c.Write(bytes.Repeat([]byte{byte('a' + w)}, size))
			done <- err
		}()
	}
	got := make([]byte, writers*size)
	read := make(chan error, 1)
	go func() { _, err := io.ReadFull(peer, got); read <- err }()
	for range writers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(got); i += size {
		if !bytes.Equal(got[i:i+size], bytes.Repeat(got[i:i+1], size)) {
			t.Fatalf("the write at %d arrived interleaved with another", i)
		}
	}
}
