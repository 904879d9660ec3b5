package config

import (
	"net/netip"
	"testing"
)

// metrics_listen takes loopback only, since the endpoint has no token;
// anything else is an error naming the line and key.
func TestMetricsListen(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  netip.AddrPort // zero: off
	}{
		{`""`, netip.AddrPort{}},
		{`"127.0.0.1:9180"`, netip.MustParseAddrPort("127.0.0.1:9180")},
		{`"127.3.2.1:9180"`, netip.MustParseAddrPort("127.3.2.1:9180")},
		{`"[::1]:9180"`, netip.MustParseAddrPort("[::1]:9180")},
		{`"localhost:9180"`, netip.MustParseAddrPort("127.0.0.1:9180")},
	} {
		c, err := Parse("c.toml", []byte("udp = true\nmetrics_listen = "+tc.value+"\n"))
		if err != nil {
			t.Errorf("%s: %v", tc.value, err)
			continue
		}
		got, on := c.MetricsAddr()
		if on != tc.want.IsValid() || got != tc.want {
			t.Errorf("%s: MetricsAddr() = %v, %v; want %v", tc.value, got, on, tc.want)
		}
	}
	for _, tc := range []struct{ value, want string }{
		{"0.0.0.0:9180", `c.toml:2: metrics_listen: "0.0.0.0:9180": only loopback (127.0.0.1, [::1], localhost) may serve metrics: the endpoint has no token`},
		{"192.168.1.20:9180", `c.toml:2: metrics_listen: "192.168.1.20:9180": only loopback (127.0.0.1, [::1], localhost) may serve metrics: the endpoint has no token`},
		{"[::]:9180", `c.toml:2: metrics_listen: "[::]:9180": only loopback (127.0.0.1, [::1], localhost) may serve metrics: the endpoint has no token`},
		{"[::ffff:10.0.0.1]:9180", `c.toml:2: metrics_listen: "[::ffff:10.0.0.1]:9180": only loopback (127.0.0.1, [::1], localhost) may serve metrics: the endpoint has no token`},
		{"127.0.0.1", `c.toml:2: metrics_listen: "127.0.0.1" is not host:port: address 127.0.0.1: missing port in address`},
		{"example.com:9180", `c.toml:2: metrics_listen: "example.com:9180": host must be an IP address`},
	} {
		_, err := Parse("c.toml", []byte("udp = true\nmetrics_listen = \""+tc.value+"\"\n"))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v\nwant %s", tc.value, err, tc.want)
		}
	}
}
