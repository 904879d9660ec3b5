package statuskey

import (
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// A listener and the status the daemon sends of it have one key, whatever
// the listener's inode: a socket re-opened on the same address and port
// is the same listener to a status.
func TestListenerAndItsStatusShareAKey(t *testing.T) {
	l := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Listen: "0.0.0.0", Port: 5353, Inode: 41}
	st := &wslfwdv1.ListenerStatus{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Listen: "0.0.0.0", Port: 5353}
	if OfListener(l) != Of(st) {
		t.Fatalf("listener key %v, status key %v: want equal", OfListener(l), Of(st))
	}
	reopened := &wslfwdv1.Listener{Protocol: l.Protocol, Listen: l.Listen, Port: l.Port, Inode: 42}
	if OfListener(reopened) != OfListener(l) {
		t.Fatalf("a re-opened socket has key %v, the old one %v", OfListener(reopened), OfListener(l))
	}
	other := &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Listen: "0.0.0.0", Port: 5353}
	if OfListener(other) == OfListener(l) {
		t.Fatalf("TCP and UDP on one port share key %v", OfListener(l))
	}
}
