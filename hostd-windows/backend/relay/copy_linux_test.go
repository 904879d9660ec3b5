package relay

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestCopyConnSplices checks that copyConn keeps the bytes in the kernel.
// Had a wrapper or a change of call defeated splice(2), the copy would go
// through a 32 KiB buffer on the heap, which TotalAlloc shows.
func TestCopyConnSplices(t *testing.T) {
	const size = 4 << 20
	client, src := tcpPair(t)
	dst, server := tcpPair(t)
	// The helpers' buffers are made before the measurement starts.
	out, in := make([]byte, 64<<10), make([]byte, 64<<10)
	sent := make(chan error, 1)
	go func() {
		var err error
		for left := size; left > 0 && err == nil; left -= len(out) {
			_, err = client.Write(out)
		}
		if err == nil {
			err = client.CloseWrite()
		}
		sent <- err
	}()
	received := make(chan int64, 1)
	go func() {
		n, _ := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{server}, in)
		received <- n
	}()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := copyConn(dst, src)
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("copyConn = %d, %v; want %d, nil", n, err, size)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := dst.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := <-received; got != size {
		t.Fatalf("received %d bytes, want %d", got, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc >= 32<<10 {
		t.Errorf("copying %d bytes allocated %d bytes on the heap: the copy went through user space, not splice", size, alloc)
	}
}

// tcpPair returns both ends of a loopback TCP connection, closed when the
// test ends.
func tcpPair(t *testing.T) (dialed, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed = dialTCP(t, ln.Addr().(*net.TCPAddr).AddrPort())
	accepted, err = ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	accepted.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { accepted.Close() })
	return dialed, accepted
}
