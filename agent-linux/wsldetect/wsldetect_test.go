//go:build linux

package wsldetect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
)

// standIn writes a wslinfo stand-in answering --networking-mode with mode
// (printf, so "-n" style output without a newline is covered too) and
// --vm-id with vmid; other flags fail like the real one.
func standIn(t *testing.T, modeScript, vmidScript string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wslinfo")
	script := "#!/bin/sh\ncase \"$1\" in\n--networking-mode) " + modeScript + " ;;\n--vm-id) " + vmidScript +
		" ;;\n*) echo \"wslinfo: unknown option $1\" >&2; exit 1 ;;\nesac\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

var natState = &wslfwdv1.NetworkState{
	Interfaces: []*wslfwdv1.Interface{{Name: "eth0", Addresses: []*wslfwdv1.InterfaceAddress{
		{Address: "fe80::215:5dff:fe8a:1b2c", PrefixLength: 64},
		{Address: "172.28.240.53", PrefixLength: 20},
	}}},
	Routes: []*wslfwdv1.Route{{Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, Destination: "0.0.0.0/0", Gateway: "172.28.240.1"}},
}

func detector(wslinfo string) *Detector {
	return &Detector{
		WSLInfo:       wslinfo,
		Getenv:        env{"WSL_DISTRO_NAME": "Ubuntu-24.04"}.get,
		KernelRelease: func() (string, error) { return "5.15.153.1-microsoft-standard-WSL2", nil },
	}
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

func TestModeFromWSLInfo(t *testing.T) {
	for out, want := range map[string]wslfwdv1.NetworkingMode{
		`echo nat`:               wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
		`printf nat`:             wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
		`echo mirrored`:          wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED,
		`echo bridged`:           wslfwdv1.NetworkingMode_NETWORKING_MODE_BRIDGED,
		`echo virtioproxy`:       wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY,
		`echo consomme`:          wslfwdv1.NetworkingMode_NETWORKING_MODE_VIRTIOPROXY,
		`echo none`:              wslfwdv1.NetworkingMode_NETWORKING_MODE_NONE,
		`echo wsl1`:              wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1,
		`printf ' mirrored\r\n'`: wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED,
	} {
		d := detector(standIn(t, out, "exit 1"))
		got, how, err := d.NetworkingMode(context.Background(), "ignored", nil)
		if err != nil || got != want || !strings.Contains(how, "wslinfo") {
			t.Errorf("%s: mode %v how %q err %v; want %v from wslinfo", out, got, how, err, want)
		}
	}
}

func TestModeWSLInfoFails(t *testing.T) {
	d := detector(standIn(t, `echo "Failed to query networking mode: Wsl/Service/0x8007054f" >&2; exit 1`, "exit 1"))
	_, _, err := d.NetworkingMode(context.Background(), "x", natState)
	if err == nil || !strings.Contains(err.Error(), "Wsl/Service/0x8007054f") || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("err = %v, want wslinfo's message and exit status", err)
	}
	d = detector(standIn(t, `echo hyperspace`, "exit 1"))
	if _, _, err := d.NetworkingMode(context.Background(), "x", natState); err == nil || !strings.Contains(err.Error(), `"hyperspace"`) {
		t.Errorf("unknown output: err = %v, want it named", err)
	}
}

func TestModeWithoutWSLInfo(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "wslinfo")
	noGateway := &wslfwdv1.NetworkState{Interfaces: natState.Interfaces}
	publicEth0 := &wslfwdv1.NetworkState{
		Interfaces: []*wslfwdv1.Interface{{Name: "eth0", Addresses: []*wslfwdv1.InterfaceAddress{{Address: "203.0.113.7", PrefixLength: 24}}}},
		Routes:     natState.Routes,
	}
	for _, c := range []struct {
		release string
		net     *wslfwdv1.NetworkState
		want    wslfwdv1.NetworkingMode
	}{
		{"4.4.0-19041-Microsoft", nil, wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1},
		{"5.15.90.1-microsoft-standard-WSL2", natState, wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT},
		{"4.19.128-microsoft-standard", natState, wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT},
		{"5.15.90.1-microsoft-standard-WSL2", noGateway, wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN},
		{"5.15.90.1-microsoft-standard-WSL2", publicEth0, wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN},
		{"6.1.0-18-amd64", natState, wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN},
	} {
		d := detector(missing)
		got, how, err := d.NetworkingMode(context.Background(), c.release, c.net)
		if err != nil || got != c.want || !strings.Contains(how, c.release) {
			t.Errorf("%s: mode %v how %q err %v; want %v from the kernel release", c.release, got, how, err, c.want)
		}
	}
}

func TestDetect(t *testing.T) {
	bootID := filepath.Join(t.TempDir(), "boot_id")
	os.WriteFile(bootID, []byte("3dadb498-8501-4bb6-8931-01b9b3059090\n"), 0o644)
	d := detector(standIn(t, "echo nat", "echo 5A2C4E6B-1D3F-4A5B-9C7D-0E1F2A3B4C5D"))
	d.BootIDPath = bootID
	info, err := d.Detect(context.Background(), natState, Overrides{})
	want := Info{Mode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, Distro: "Ubuntu-24.04",
		VMID: "5A2C4E6B-1D3F-4A5B-9C7D-0E1F2A3B4C5D", BootID: "3dadb498-8501-4bb6-8931-01b9b3059090",
		KernelRelease: "5.15.153.1-microsoft-standard-WSL2"}
	info.ModeHow = ""
	if err != nil || info != want {
		t.Errorf("Detect = %+v, %v; want %+v", info, err, want)
	}

	// Flags override detection; a failing wslinfo is then not consulted.
	d.WSLInfo = standIn(t, "exit 1", "echo 'not an id'")
	info, err = d.Detect(context.Background(), natState, Overrides{Mode: wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED, Distro: "Debian"})
	if err != nil || info.Mode != wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED || info.Distro != "Debian" || info.VMID != "" {
		t.Errorf("with overrides: %+v, %v", info, err)
	}

	d.Getenv = env{}.get
	if _, err := d.Detect(context.Background(), natState, Overrides{Mode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT}); err == nil ||
		!strings.Contains(err.Error(), "--distro") {
		t.Errorf("no distro: err = %v, want a hint at --distro", err)
	}
	if _, err := d.Detect(context.Background(), natState, Overrides{Mode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
		Distro: strings.Repeat("x", 65)}); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("65-byte distro: err = %v, want the limit named", err)
	}
	d.Getenv = env{"WSL_DISTRO_NAME": "Ubuntu"}.get
	info, err = d.Detect(context.Background(), natState, Overrides{})
	if err == nil || !strings.Contains(err.Error(), "--networking-mode") {
		t.Errorf("failing wslinfo: err = %v, want a hint at --networking-mode", err)
	}
	if info.Mode != wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN || info.Distro != "Ubuntu" {
		t.Errorf("failing wslinfo: info %+v, want mode UNKNOWN and the rest filled in", info)
	}
}

func FuzzParseMode(f *testing.F) {
	for _, s := range []string{"nat", "nat\n", " mirrored\r\n", "bridged", "virtioproxy", "consomme", "none", "wsl1",
		"", "NAT", "unknown", "nat mirrored", "\x00", strings.Repeat("\x00", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMode(s)
		if err != nil {
			if m != wslfwdv1.NetworkingMode_NETWORKING_MODE_UNSPECIFIED {
				t.Fatalf("ParseMode(%q) failed but returned %v", s, m)
			}
			if len(err.Error()) > 400 { // 64 bytes quoted, at most 4 characters each, plus the message
				t.Fatalf("error for %q is %d bytes: unbounded", s, len(err.Error()))
			}
			return
		}
		// Every accepted output is a documented name, modulo white space
		// and case.
		name := strings.ToLower(strings.TrimSpace(s))
		if name == "consomme" {
			name = "virtioproxy"
		}
		if endpoint.ModeName(m) != name {
			t.Fatalf("ParseMode(%q) = %v, which is named %q", s, m, endpoint.ModeName(m))
		}
	})
}
