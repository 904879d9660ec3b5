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
