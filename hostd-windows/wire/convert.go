package wire

import (
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// ProtocolFromProto is the backends' protocol for p; false for any but
// TCP and UDP.
func ProtocolFromProto(p wslfwdv1.Protocol) (backend.Protocol, bool) {
	switch p {
	case wslfwdv1.Protocol_PROTOCOL_TCP:
		return backend.TCP, true
	case wslfwdv1.Protocol_PROTOCOL_UDP:
		return backend.UDP, true
	}
	return "", false
}

// ProtocolToProto is the protocol's value for p; UNSPECIFIED for any but
// TCP and UDP.
func ProtocolToProto(p backend.Protocol) wslfwdv1.Protocol {
	switch p {
	case backend.TCP:
		return wslfwdv1.Protocol_PROTOCOL_TCP
	case backend.UDP:
		return wslfwdv1.Protocol_PROTOCOL_UDP
	}
	return wslfwdv1.Protocol_PROTOCOL_UNSPECIFIED
}
