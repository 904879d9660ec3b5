package main

import (
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func TestParsePortSpec(t *testing.T) {
	tcp, udp := wslfwdv1.Protocol_PROTOCOL_TCP, wslfwdv1.Protocol_PROTOCOL_UDP
	for in, want := range map[string]portSpec{
		"1": {tcp, 1}, "80": {tcp, 80}, "65535": {tcp, 65535}, "53/udp": {udp, 53}, "53/UDP": {udp, 53},
		"22/tcp": {tcp, 22}, "08080": {tcp, 8080},
	} {
		got, err := parsePortSpec(in)
		if err != nil || got != want {
			t.Errorf("parsePortSpec(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65536", "99999999999999999999", "-1", "+80", " 80", "80 ", "80/", "/udp", "80/sctp", "80/udp/tcp", "0x50", "8o", "80:81"} {
		if got, err := parsePortSpec(in); err == nil {
			t.Errorf("parsePortSpec(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzParsePortSpec(f *testing.F) {
	for _, s := range []string{"80", "53/udp", "65535/tcp", "0", "65536", "/", "80/", "+1", "1/UDP"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parsePortSpec(s)
		if err != nil {
			return
		}
		if got.port == 0 || (got.proto != wslfwdv1.Protocol_PROTOCOL_TCP && got.proto != wslfwdv1.Protocol_PROTOCOL_UDP) {
			t.Fatalf("parsePortSpec(%q) = %v: out of range", s, got)
		}
		// The canonical form parses back to the same spec.
		again, err := parsePortSpec(got.String())
		if err != nil || again != got {
			t.Fatalf("parsePortSpec(%q) = %v, whose String %q gives %v, %v", s, got, got.String(), again, err)
		}
	})
}

func TestParseListenAddress(t *testing.T) {
	for in, want := range map[string]string{"": "", "0.0.0.0": "0.0.0.0", "::": "::", "::ffff:192.168.1.2": "192.168.1.2"} {
		if got, err := parseListenAddress(in); err != nil || got != want {
			t.Errorf("parseListenAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"localhost", "1.2.3", "fe80::1%eth0", "1.2.3.4:80"} {
		if _, err := parseListenAddress(in); err == nil {
			t.Errorf("parseListenAddress(%q): want an error", in)
		}
	}
}
