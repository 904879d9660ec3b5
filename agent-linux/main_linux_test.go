//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/wslfwd/wslfwd/agent-linux/internal/nstest"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// TestMain doubles as a listening process for the tests: the agent hides
// its own sockets, so a listener it must report has to belong to another
// process.
func TestMain(m *testing.M) {
	if addr := os.Getenv("WSLFWD_TEST_LISTEN"); addr != "" {
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		defer l.Close()
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin) // until the test closes stdin
		return
	}
	os.Exit(m.Run())
}

// startListener runs a child process listening on addr in the calling
// thread's network namespace and returns its pid once it listens.
func startListener(t *testing.T, addr string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "WSLFWD_TEST_LISTEN="+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("listener process: %q", line)
	}
	return cmd.Process.Pid
}

// TestInspectJSONInNamespace runs `inspect --json` inside a namespace laid
// out like the lab's wsl side and checks it shows exactly that namespace.
func TestInspectJSONInNamespace(t *testing.T) {
	ns := nstest.New(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "host0"}); err != nil {
		t.Fatal(err)
	}
	eth0, _ := h.LinkByName("eth0")
	host0, _ := h.LinkByName("host0")
	h.LinkSetUp(eth0)
	h.LinkSetUp(host0)
	a, _ := netlink.ParseAddr("172.28.240.53/20")
	a.Flags = unix.IFA_F_NODAD
	if err := h.AddrAdd(eth0, a); err != nil {
		t.Fatal(err)
	}
	_, all, _ := net.ParseCIDR("0.0.0.0/0")
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Dst: all, Gw: net.ParseIP("172.28.240.1")}); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	var pid int
	nstest.Do(t, ns, func() {
		pid = startListener(t, "127.0.0.1:8080")
		own, err := net.Listen("tcp4", "0.0.0.0:9999")
		if err != nil {
			t.Errorf("listen: %v", err)
			return
		}
		defer own.Close()
		cmd := inspectCommand()
		cmd.SetArgs([]string{"--json", "--distro", "Lab", "--networking-mode", "nat"})
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		if err := cmd.Execute(); err != nil {
			t.Errorf("inspect: %v", err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	var doc struct {
		Hello    json.RawMessage `json:"hello"`
		Snapshot json.RawMessage `json:"snapshot"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("output is not {hello, snapshot}: %v\n%s", err, out.String())
	}
	var hello wslfwdv1.AgentHello
	var snap wslfwdv1.Snapshot
	if err := protojson.Unmarshal(doc.Hello, &hello); err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(doc.Snapshot, &snap); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"networking_mode"`, `"interfaces"`, `"listeners"`, `"process_name"`, `"prefix_length"`} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("output lacks the proto field name %s", name)
		}
	}
	if hello.GetDistro() != "Lab" || hello.GetNetworkingMode() != wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT ||
		hello.GetProtocolRevision() != 2 || len(hello.GetInstanceId()) != 32 || hello.GetBootId() == "" {
		t.Errorf("hello %v", &hello)
	}
	var names []string
	for _, i := range snap.GetNetwork().GetInterfaces() {
		names = append(names, i.GetName())
		if i.GetName() == "eth0" && (len(i.GetAddresses()) == 0 || i.GetAddresses()[0].GetAddress() != "172.28.240.53") {
			t.Errorf("eth0 %v", i)
		}
	}
	if !slices.Equal(names, []string{"lo", "eth0", "host0"}) && !slices.Equal(names, []string{"lo", "host0", "eth0"}) {
		t.Errorf("interfaces %v, want exactly lo, eth0 and host0", names)
	}
	if r := snap.GetNetwork().GetRoutes(); len(r) != 1 || r[0].GetGateway() != "172.28.240.1" {
		t.Errorf("routes %v, want the default via 172.28.240.1", r)
	}
	// The child's listener is shown with its owner; the agent's own (the
	// test process's) port 9999 is hidden.
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	want := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
		Listen: "127.0.0.1", Port: 8080, Uid: uint32(os.Geteuid()), Pid: uint32(pid), ProcessName: strings.TrimSpace(string(comm))}
	if l := snap.GetListeners(); len(l) != 1 || l[0].GetInode() == 0 || !proto.Equal(withoutInode(l[0]), want) {
		t.Errorf("listeners %v, want only %v", l, want)
	}
}

func withoutInode(l *wslfwdv1.Listener) *wslfwdv1.Listener {
	c := proto.CloneOf(l)
	c.Inode = 0
	return c
}
