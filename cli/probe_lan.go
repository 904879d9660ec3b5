package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// The probe's lan-to-wsl path is dialed by the daemon, on the host, to the
// host's own LAN address: Windows Firewall does not filter a host's
// connections to its own addresses, so it passes where a phone on the LAN
// fails. The CLI says so after every probe, and offers real checks from
// another machine: a command to paste there, or `wslfwd probe --from-lan`,
// which needs neither daemon nor token.

// lanPathName is the probe path dialed on the host to its LAN address.
const lanPathName = "lan-to-wsl"

// lanNote says what the lan-to-wsl path did not test, and how to test it
// from another machine, for the host address it dialed.
func lanNote(w io.Writer, r *wslfwdv1.ProbeResponse) {
	host := "<host-lan-address>"
	tested := false
	for _, p := range r.GetPaths() {
		if p.GetName() != lanPathName {
			continue
		}
		tested = true
		if ap, err := netip.ParseAddrPort(p.GetTo()); err == nil {
			host = ap.Addr().String()
		}
	}
	if !tested {
		return
	}
	fmt.Fprintf(w, `
Note: %s ran on this host, to its own address: Windows Firewall does not filter a
host's connections to itself, so it tested the forward, not whether LAN clients get
in. To test from another machine on the LAN, with <port> a port 'wslfwd forwards'
lists (the probe's echo port is closed again):
  PowerShell:   Test-NetConnection %[2]s -Port <port>
  Linux, macOS: nc -vz %[2]s <port>
  wslfwd:       wslfwd probe --from-lan %[2]s --port <port>
`, lanPathName, host)
}

// probeFromLAN dials host:port from this machine (another one on the
// LAN) and reports it as a probe path: no daemon and no token are needed,
// so it runs on any PC with the wslfwd binary.
func (a *app) probeFromLAN(ctx context.Context, host string, port uint16, timeout time.Duration) error {
	if port == 0 {
		return usagef("--from-lan needs --port: the host port of a forward ('wslfwd forwards' on the host lists them)")
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	p := &wslfwdv1.PathResult{Name: "lan-to-host", From: "this machine", To: addr}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	c, err := a.dial(ctx, "tcp", addr)
	if err != nil {
		p.Error = lanDialError(err, timeout)
	} else {
		c.Close()
		p.Ok, p.Latency = true, durationpb.New(time.Since(start))
	}
	return a.printProbe(&wslfwdv1.ProbeResponse{Port: uint32(port), Paths: []*wslfwdv1.PathResult{p}, Ok: p.Ok}, false)
}

// lanDialError says what a failed connect from the LAN means.
func lanDialError(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, errConnRefused):
		return fmt.Sprintf("%v: the host answered but nothing listens on the port: is it forwarded ('wslfwd forwards' on the host)?", err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("no answer within %s: a firewall drops it (on the host: 'wslfwd doctor', firewall = true and the network's profile) or the address is wrong", timeout)
	}
	return err.Error()
}
