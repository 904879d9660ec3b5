package agents

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func TestValidateNetworkRejects(t *testing.T) {
	addr := func(a string, prefix uint32) *wslfwdv1.NetworkState {
		return &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{{Name: "eth0",
			Addresses: []*wslfwdv1.InterfaceAddress{{Address: a, PrefixLength: prefix}}}}}
	}
	for _, tc := range []struct {
		name string
		n    *wslfwdv1.NetworkState
		want string
	}{
		{"missing", nil, "network state is missing"},
		{"bad address", addr("eth0", 8), "interface eth0: address"},
		{"mapped", addr("::ffff:10.0.0.1", 96), "IPv4-mapped"},
		{"unspecified", addr("0.0.0.0", 0), "unspecified"},
		{"prefix", addr("10.0.0.1", 33), "prefix length 33"},
		{"control character", &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{{Name: "eth\x00"}}}, "non-printable"},
		{"route family", &wslfwdv1.NetworkState{Routes: []*wslfwdv1.Route{{Destination: "0.0.0.0/0"}}}, "invalid address family"},
		{"route gateway", &wslfwdv1.NetworkState{Routes: []*wslfwdv1.Route{{Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
			Destination: "0.0.0.0/0", Gateway: "gw"}}}, "gateway"},
		{"zoned address", addr("fe80::1%"+strings.Repeat("\x1b[2J", 1000), 64), "zone"},
		{"zoned gateway", &wslfwdv1.NetworkState{Routes: []*wslfwdv1.Route{{Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6,
			Destination: "::/0", Gateway: "fe80::1%eth0"}}}, "zone"},
		{"too large", &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{{Name: strings.Repeat("n", 200),
			Flags: slices.Repeat([]string{strings.Repeat("f", 250)}, 32)}, {Name: "x",
			Flags: slices.Repeat([]string{strings.Repeat("f", 250)}, 32)}, {Name: "y",
			Flags: slices.Repeat([]string{strings.Repeat("f", 250)}, 32)}, {Name: "z",
			Flags: slices.Repeat([]string{strings.Repeat("f", 250)}, 32)}, {Name: "w",
			Flags: slices.Repeat([]string{strings.Repeat("f", 250)}, 32)}}}, "bytes, at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateNetwork(tc.n)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ValidateNetwork = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := ValidateNetwork(addr("172.28.240.53", 20)); err != nil {
		t.Fatalf("a valid state rejected: %v", err)
	}
}

// A zone is refused, not kept: netip takes one of any length and any
// characters, and the agent never reports one. Unmapped to 0.0.0.0, such
// an address would otherwise make a forward that shows it.
func TestValidateListenerRefusesZones(t *testing.T) {
	for _, listen := range []string{"fe80::1%eth0", "::ffff:0.0.0.0%" + strings.Repeat("\x1b[31m", 1000)} {
		l := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6, Listen: listen, Port: 80}
		_, err := ValidateListener(l)
		if err == nil || !strings.Contains(err.Error(), "zone") {
			t.Errorf("ValidateListener(%.20q...) = %v, want a zone refused", listen, err)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("the error repeats the whole address: %d bytes", len(err.Error()))
		}
	}
}

// An EchoReady's text goes to the CLI that asked for the probe.
func TestValidateEchoReady(t *testing.T) {
	ok := &wslfwdv1.EchoReady{ProbeId: "0123456789abcdef", Listen: "0.0.0.0", Port: 40000,
		WslToHost: &wslfwdv1.PathResult{Name: "wsl-to-host", From: "wsl (Ubuntu)", To: "172.28.240.1:17810", Error: "dial tcp: i/o timeout",
			Latency: durationpb.New(3 * time.Millisecond)}}
	if err := ValidateEchoReady(ok); err != nil {
		t.Fatalf("a valid EchoReady refused: %v", err)
	}
	for name, r := range map[string]*wslfwdv1.EchoReady{
		"error":     {ProbeId: "p", Error: "\x1b[2J"},
		"listen":    {ProbeId: "p", Listen: strings.Repeat("1", 300)},
		"path from": {ProbeId: "p", WslToHost: &wslfwdv1.PathResult{From: "a\nb"}},
		"path to":   {ProbeId: "p", WslToHost: &wslfwdv1.PathResult{To: "\xff"}},
		// A latency protobuf cannot hold would fail `wslfwd probe -o json`.
		"latency out of range": {ProbeId: "p", WslToHost: &wslfwdv1.PathResult{Latency: &durationpb.Duration{Seconds: 315576000001}}},
		"negative latency":     {ProbeId: "p", WslToHost: &wslfwdv1.PathResult{Latency: durationpb.New(-time.Second)}},
		"a latency of hours":   {ProbeId: "p", WslToHost: &wslfwdv1.PathResult{Latency: durationpb.New(2 * time.Hour)}},
	} {
		if err := ValidateEchoReady(r); err == nil {
			t.Errorf("%s: a bad EchoReady accepted", name)
		}
	}
}
