package output

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

var (
	goldNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	goldLoc = time.FixedZone("UTC+1", 3600)
)

func ts(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(goldNow.Add(d)) }

func goldStatus() *wslfwdv1.GetStatusResponse {
	return &wslfwdv1.GetStatusResponse{
		Version:         "0.4.0",
		StartedAt:       ts(-(26*time.Hour + 3*time.Minute)),
		Backend:         "portproxy",
		ListenAddresses: []string{"172.28.240.1:17810", "127.0.0.1:17810"},
		ExposeAddress:   "0.0.0.0",
		AgentsConnected: 2,
		ForwardsByState: []*wslfwdv1.StateCount{
			{State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, Count: 3},
			{State: wslfwdv1.ForwardState_FORWARD_STATE_PENDING, Count: 0},
			{State: wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT, Count: 1},
		},
		Problems: []*wslfwdv1.Problem{{
			Code:    "iphlpsvc-stopped",
			Message: "The IP Helper service is stopped: portproxy forwards do not listen.",
			Hint:    "sc start iphlpsvc",
		}},
		Os: "windows",
		Metrics: &wslfwdv1.DaemonMetrics{
			ReconcileFull:        histogram(2, 0.05, 0.1),
			ReconcileIncremental: histogram(10, 0.01, 0.1),
			EventToActive:        histogram(3, 0.025, 0.05),
			NetshRuns:            5,
			NetshFailures:        1,
			CallRefusals: []*wslfwdv1.RefusalCount{
				{Code: "PermissionDenied", Count: 1}, {Code: "Unauthenticated", Count: 11},
			},
			ConnectionsClosedPastLimits:     39457,
			ConnectionsClosedPendingTimeout: 3,
		},
	}
}

// histogram holds n durations whose median lies in the bucket that ends
// at medianBound, and all of them at most above.
func histogram(n uint64, medianBound, above float64) *wslfwdv1.DurationHistogram {
	return &wslfwdv1.DurationHistogram{Count: n, Buckets: []*wslfwdv1.DurationBucket{
		{UpperBoundSeconds: medianBound / 2, Count: (n+1)/2 - 1},
		{UpperBoundSeconds: medianBound, Count: (n + 1) / 2},
		{UpperBoundSeconds: above, Count: n},
	}}
}

func nat(addrs ...string) *wslfwdv1.NetworkState {
	n := &wslfwdv1.NetworkState{
		Interfaces: []*wslfwdv1.Interface{
			{Name: "lo", Flags: []string{"up", "loopback"}, Addresses: []*wslfwdv1.InterfaceAddress{{Address: "127.0.0.1", PrefixLength: 8}}},
			{Name: "eth0", Flags: []string{"up"}},
		},
		Routes: []*wslfwdv1.Route{
			{Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, Destination: "0.0.0.0/0", Gateway: "172.28.240.9", Metric: 200},
			{Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, Destination: "0.0.0.0/0", Gateway: "172.28.240.1", Metric: 100},
			{Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6, Destination: "::/0", Gateway: "fe80::1"},
		},
	}
	for _, a := range addrs {
		n.Interfaces[1].Addresses = append(n.Interfaces[1].Addresses, &wslfwdv1.InterfaceAddress{Address: a})
	}
	return n
}

func goldAgents() *wslfwdv1.ListAgentsResponse {
	return &wslfwdv1.ListAgentsResponse{Agents: []*wslfwdv1.Agent{
		{
			Distro: "Debian", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
			// Its agent reports the other's address: only FROM is sure.
			Network: nat("fe80::215:5dff:fe8a:1b2c", "172.28.240.53"), ListenerCount: 0, PeerAddress: "172.28.240.54:41000",
			Connected: false, LastSeen: ts(-12 * time.Second), GraceUntil: ts(18 * time.Second),
		},
		{
			Distro: "Ubuntu-22.04-with-a-long-name", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
			Network: nat("172.28.240.53", "fd00::53", "2001:db8::53"), ListenerCount: 12, UnreportedListeners: 3, AgentVersion: "v0.4.0",
			PeerAddress: "[::ffff:172.28.240.53]:40000", Connected: true,
			Detection:   &wslfwdv1.ListenerDetection{Tcp: wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS, Udp: wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS},
			ConnectedAt: ts(-(time.Hour + 2*time.Minute + 9*time.Second)), LastSeen: ts(-time.Second),
		},
		{Distro: "Arch", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED, Connected: true, AgentVersion: "v0.4.0", PeerAddress: "127.0.0.1:50000",
			Detection: &wslfwdv1.ListenerDetection{Tcp: wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS, Udp: wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS}},
	}}
}

func goldForwards() *wslfwdv1.ListForwardsResponse {
	return &wslfwdv1.ListForwardsResponse{Forwards: []*wslfwdv1.Forward{
		{
			Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, ListenAddress: "0.0.0.0", ListenPort: 8080,
			ConnectAddress: "172.28.240.53", ConnectPort: 8080, Distro: "Ubuntu",
			ProcessName: "node-inspector-server", Pid: 77, Backend: "portproxy",
			State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE,
		},
		{
			Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, ListenAddress: "0.0.0.0", ListenPort: 5353,
			ConnectAddress: "172.28.240.53", ConnectPort: 53, Distro: "Ubuntu", Backend: "relay",
			State: wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT, Reason: "host port held by svchost.exe",
		},
		{
			Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, ListenerAddress: "127.0.0.1", ConnectPort: 5432,
			Distro: "Ubuntu", ProcessName: "postgres", State: wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED,
			Reason: "bound to 127.0.0.1 only: unreachable from the host in NAT mode",
		},
	}}
}

func goldProbe() *wslfwdv1.ProbeResponse {
	return &wslfwdv1.ProbeResponse{Distro: "Ubuntu", Port: 40123, Paths: []*wslfwdv1.PathResult{
		{Name: "wsl-to-host", From: "wsl (Ubuntu)", To: "172.28.240.1:17810", Ok: true, Latency: durationpb.New(812 * time.Microsecond)},
		{Name: "host-to-wsl", From: "host", To: "172.28.240.53:40123", Ok: true, Latency: durationpb.New(1234567 * time.Nanosecond)},
		{Name: "lan-to-wsl", From: "host (0.0.0.0)", To: "10.2.3.1:40123", Error: "dial tcp 10.2.3.1:40123: connect: connection refused"},
	}}
}

func goldEvents() []*wslfwdv1.WatchResponse {
	return []*wslfwdv1.WatchResponse{
		{Time: ts(1500 * time.Millisecond), Event: &wslfwdv1.WatchResponse_Agent{Agent: &wslfwdv1.AgentEvent{
			Kind: wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_DISCONNECTED, Agent: goldAgents().Agents[0]}}},
		{Time: ts(2 * time.Second), Event: &wslfwdv1.WatchResponse_Forward{Forward: &wslfwdv1.ForwardEvent{
			Kind: wslfwdv1.ForwardEventKind_FORWARD_EVENT_KIND_FAILED, Forward: goldForwards().Forwards[1]}}},
		{Time: ts(3 * time.Second), Event: &wslfwdv1.WatchResponse_Forward{Forward: &wslfwdv1.ForwardEvent{
			Kind: wslfwdv1.ForwardEventKind_FORWARD_EVENT_KIND_ADDED, Forward: goldForwards().Forwards[0]}}},
	}
}
