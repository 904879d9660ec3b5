package agents

import (
	"strings"
	"testing"

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
