package netlab

import (
	"io"
	"net"
)

// Echo answers every connection ln accepts with what it sends, until ln
// closes: the stand-in service the lab reaches through forwards.
func Echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// EchoPackets sends every datagram pc receives back to its sender, until
// pc closes: the stand-in UDP service.
func EchoPackets(pc net.PacketConn) {
	buf := make([]byte, 64<<10) // any UDP payload
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = pc.WriteTo(buf[:n], from)
	}
}
