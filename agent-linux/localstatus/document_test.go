package localstatus_test

import (
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/localstatus"
	"github.com/wslfwd/wslfwd/agent-linux/session"
	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/statuskey"
)

// source is a tracker.Source with fixed listeners.
type source []*wslfwdv1.Listener

func (s source) Network() (*wslfwdv1.NetworkState, error) { return &wslfwdv1.NetworkState{}, nil }
func (s source) Listeners() ([]*wslfwdv1.Listener, error) { return s, nil }

// stateOf returns the tracker's state holding ls.
func stateOf(t *testing.T, ls ...*wslfwdv1.Listener) tracker.State {
	t.Helper()
	tr := tracker.New(tracker.Config{Source: source(ls)})
	if err := tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	st, _ := tr.Current()
	return st
}

func tcp(port uint32, inode uint64) *wslfwdv1.Listener {
	return &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
		Listen: "0.0.0.0", Port: port, Inode: inode, Pid: 42, Uid: 1000, ProcessName: "python3"}
}

var hello = &wslfwdv1.AgentHello{Distro: "Ubuntu", AgentVersion: "1.2.3", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
	Detection: &wslfwdv1.ListenerDetection{Tcp: wslfwdv1.DetectionMethod_DETECTION_METHOD_EVENTS, Udp: wslfwdv1.DetectionMethod_DETECTION_METHOD_SCANS}}

// Each listener's state comes from, in order: the connection (none: not
// connected, never a stale word), the daemon's status of it, whether the
// daemon acted on a message that carried it (then: as asked), else
// pending; a listener the last message left out, over the daemon's limit,
// is unreported.
func TestBuildStates(t *testing.T) {
	asked, blocked, opened := tcp(8080, 1), tcp(445, 2), tcp(9000, 3)
	confirmed := stateOf(t, asked, blocked) // what the daemon acted on
	now := stateOf(t, asked, blocked, opened)
	denied := &wslfwdv1.ListenerStatus{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Listen: "0.0.0.0", Port: 445,
		State: wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED, Reason: "port 445 is in the deny list"}
	statuses := map[statuskey.Key]*wslfwdv1.ListenerStatus{statuskey.OfListener(blocked): denied}
	since := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	for _, c := range []struct {
		name   string
		report session.Report
		want   map[uint32]localstatus.Listener // by port: state, reason, as asked
	}{
		{"not connected, statuses from the last stream", session.Report{
			Link:     session.Link{Since: since, LastError: "daemon unreachable", RetryAt: since.Add(time.Second)},
			Statuses: statuses, Confirmed: &confirmed},
			map[uint32]localstatus.Listener{
				8080: {State: "NOT_CONNECTED", Reason: localstatus.ReasonNotConnected},
				445:  {State: "NOT_CONNECTED", Reason: localstatus.ReasonNotConnected},
				9000: {State: "NOT_CONNECTED", Reason: localstatus.ReasonNotConnected}}},
		{"connected, nothing acted on", session.Report{Link: session.Link{Connected: true, Since: since}},
			map[uint32]localstatus.Listener{
				8080: {State: "PENDING", Reason: localstatus.ReasonPending},
				445:  {State: "PENDING", Reason: localstatus.ReasonPending},
				9000: {State: "PENDING", Reason: localstatus.ReasonPending}}},
		{"connected, a status, acted on", session.Report{Link: session.Link{Connected: true, Since: since},
			Statuses: statuses, Acted: 4, Confirmed: &confirmed},
			map[uint32]localstatus.Listener{
				8080: {State: "ACTIVE", AsAsked: true},
				445:  {State: "BLOCKED", Reason: "port 445 is in the deny list"},
				9000: {State: "PENDING", Reason: localstatus.ReasonPending}}},
		{"connected, a status, nothing acted on", session.Report{Link: session.Link{Connected: true, Since: since},
			Statuses: statuses, Acted: 4},
			map[uint32]localstatus.Listener{
				8080: {State: "PENDING", Reason: localstatus.ReasonPending},
				445:  {State: "BLOCKED", Reason: "port 445 is in the deny list"},
				9000: {State: "PENDING", Reason: localstatus.ReasonPending}}},
		{"connected, over the daemon's limit", session.Report{Link: session.Link{Connected: true, Since: since},
			Statuses: statuses, Acted: 4, Confirmed: &confirmed, Cut: &confirmed, MaxListeners: 2},
			map[uint32]localstatus.Listener{
				8080: {State: "ACTIVE", AsAsked: true},
				445:  {State: "BLOCKED", Reason: "port 445 is in the deny list"},
				9000: {State: "UNREPORTED", Reason: localstatus.ReasonUnreported(2)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := localstatus.Build(localstatus.Input{Hello: hello, Addr: "172.28.240.1:6110", Why: "NAT mode", State: now, Report: c.report})
			if len(doc.Listeners) != 3 {
				t.Fatalf("listeners %+v, want 3", doc.Listeners)
			}
			for _, l := range doc.Listeners {
				w := c.want[l.Port]
				if l.State != w.State || l.Reason != w.Reason || l.AsAsked != w.AsAsked {
					t.Errorf("port %d: %s %q as asked %v; want %s %q as asked %v", l.Port, l.State, l.Reason, l.AsAsked, w.State, w.Reason, w.AsAsked)
				}
			}
			if d := doc.Daemon; d.Connected != c.report.Connected || d.LastError != c.report.LastError || !d.Since.Equal(since) {
				t.Errorf("daemon %+v, want it as the report says: %+v", d, c.report.Link)
			}
		})
	}
}

// The document names the agent and its listeners whole, sorted by
// protocol and port.
func TestBuildHeaderAndOrder(t *testing.T) {
	udp := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6,
		Listen: "::", Port: 53, Inode: 9, V6Only: true}
	doc := localstatus.Build(localstatus.Input{Hello: hello, Addr: "172.28.240.1:6110", Why: "NAT mode",
		State: stateOf(t, tcp(9000, 1), udp, tcp(80, 2)), Report: session.Report{Link: session.Link{Connected: true, DaemonVersion: "1.2.4"}}})
	if doc.AgentVersion != "1.2.3" || doc.Distro != "Ubuntu" || doc.NetworkingMode != "nat" ||
		doc.Detection != (localstatus.Detection{TCP: "events", UDP: "scans"}) || doc.Daemon.Address != "172.28.240.1:6110" ||
		doc.Daemon.Version != "1.2.4" {
		t.Errorf("header %+v", doc)
	}
	var got []string
	for _, l := range doc.Listeners {
		got = append(got, l.Protocol+" "+l.Listen)
	}
	if want := []string{"tcp 0.0.0.0", "tcp 0.0.0.0", "udp ::"}; len(got) != 3 || got[0] != want[0] || got[2] != want[2] ||
		doc.Listeners[0].Port != 80 || doc.Listeners[1].Port != 9000 {
		t.Errorf("order %v (%+v)", got, doc.Listeners)
	}
	if l := doc.Listeners[0]; l.Process != "python3" || l.PID != 42 || l.UID != 1000 {
		t.Errorf("process of port 80: %+v", l)
	}
	if !doc.Listeners[2].V6Only {
		t.Error("v6only lost")
	}
}
