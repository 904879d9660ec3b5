package session_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// The agent keeps what the daemon said of its listeners, whichever
// revision the daemon speaks: a revision 2 daemon sends one update per
// run with the seq it acted on, and only for listeners not forwarded as
// asked; an older one sends a status for every listener and a separate
// Ack. A listener that goes takes its status along, and a new stream
// starts knowing nothing.
func TestStatusesFromEitherDaemon(t *testing.T) {
	for _, old := range []bool{false, true} {
		name := map[bool]string{false: "revision 2 daemon", true: "revision 1 daemon"}[old]
		t.Run(name, func(t *testing.T) {
			d, h, fs := twoListeners(t)

			blocked := &wslfwdv1.ListenerStatus{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Listen: "0.0.0.0", Port: 9090,
				State: wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED, Reason: "port 9090 is in the deny list (deny_ports)"}
			if old {
				active := &wslfwdv1.ListenerStatus{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Listen: "0.0.0.0", Port: 8080,
					State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, ExposedAt: "0.0.0.0:8080"}
				fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_ForwardStatus{ForwardStatus: &wslfwdv1.ForwardStatusUpdate{
					Statuses: []*wslfwdv1.ListenerStatus{active, blocked}}}}
				fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_Ack{Ack: &wslfwdv1.Ack{Seq: 2}}}
			} else {
				fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_ForwardStatus{ForwardStatus: &wslfwdv1.ForwardStatusUpdate{
					Statuses: []*wslfwdv1.ListenerStatus{blocked}, Seq: 2}}}
			}
			waitFor(t, "the daemon's word on port 9090", func() bool {
				st, seq := h.sess.Statuses()
				return seq == 2 && statusOf(st, 9090).GetState() == wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED
			})

			h.change(t, netWith("172.28.240.53"), tcp(8080, 1))
			expectChanges(t, fs.next(t), 3, nil, []uint32{9090})
			if st, _ := h.sess.Statuses(); statusOf(st, 9090) != nil {
				t.Fatalf("port 9090 is gone, its status stayed: %v", st)
			}

			fs.end <- status.Error(codes.Unavailable, "daemon restarting")
			fs2 := d.nextStream(t)
			fs2.next(t) // hello
			expectSnapshot(t, fs2.next(t), 1, 8080)
			if st, seq := h.sess.Statuses(); len(st) != 0 || seq != 0 {
				t.Fatalf("a new stream starts with %v at seq %d, want nothing", st, seq)
			}
		})
	}
}

func statusOf(st []*wslfwdv1.ListenerStatus, port uint32) *wslfwdv1.ListenerStatus {
	for _, s := range st {
		if s.GetPort() == port {
			return s
		}
	}
	return nil
}
