package relay

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/backendtest"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// testOptions are a relay's options in tests: logs go to the test's
// output, shown when it fails or with -v.
func testOptions(t *testing.T) Options {
	h := slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})
	return Options{Logger: slog.New(h)}
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		New:            func(t *testing.T) backend.Backend { return New(testOptions(t)) },
		ListenAddr:     loopback,
		ConnectTarget:  backendtest.Echo,
		CarriesTraffic: true,
		Protocols:      []backend.Protocol{backend.TCP, backend.UDP},
		FreePort:       func(t *testing.T) uint16 { return backendtest.FreePort(t, loopback) },
		Occupy: func(t *testing.T, p backend.Protocol) uint16 {
			return backendtest.Occupy(t, loopback, p)
		},
	})
}
