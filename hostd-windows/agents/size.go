package agents

import (
	"errors"
	"math"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	protobuf "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/netstate"
)

// maxProcessName bounds a listener's process_name, in bytes. The agent
// sends the owner's comm, which Linux keeps in 16 bytes with its NUL
// (TASK_COMM_LEN); the bound leaves room should that grow, and keeps a
// listener's worst case near 150 bytes where 256 characters of name had
// allowed over a kilobyte.
const maxProcessName = 64

// maxListenerWire is the most one Listener may take in a message, its
// field tag and length included: every field at its widest value that
// ValidateListener lets through. A listen address is one netip parses
// without a zone, so at most 39 characters ("ffff:…:ffff"; an IPv4-mapped
// address is shorter).
var maxListenerWire = func() int {
	widest := &wslfwdv1.Listener{
		Protocol:    wslfwdv1.Protocol_PROTOCOL_UDP,
		Family:      wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6,
		Listen:      strings.Repeat("ffff:", 7) + "ffff",
		Port:        65535,
		Inode:       math.MaxUint64,
		Uid:         math.MaxUint32,
		Pid:         math.MaxUint32,
		ProcessName: strings.Repeat("x", maxProcessName),
		V6Only:      true,
	}
	n := protobuf.Size(widest)
	return protowire.SizeTag(1) + protowire.SizeBytes(n)
}()

// MaxMessageSize is the largest message an agent that keeps to
// maxListeners needs: a Changes that removes every listener it held and
// adds as many new ones, with a whole network state. It is the bound the
// daemon sets on every incoming message; no control call comes near it.
// With 4,096 listeners, about 1.2 MiB. maxListeners 0 means no listener
// limit, and gives gRPC's own default, 4 MiB.
func MaxMessageSize(maxListeners int) int {
	if maxListeners <= 0 {
		return 4 << 20
	}
	const rest = 4 << 10 // seq, flags, the oneof's tag and length: far less
	return 2*maxListeners*maxListenerWire + netstate.MaxBytes + rest
}

// AgentMessage's and its parts' field numbers, read from the descriptors
// so that they cannot drift from the proto.
var (
	agentFields    = (&wslfwdv1.AgentMessage{}).ProtoReflect().Descriptor().Fields()
	snapshotField  = agentFields.ByName("snapshot").Number()
	changesField   = agentFields.ByName("changes").Number()
	snapshotLists  = fieldNumbers(&wslfwdv1.Snapshot{}, "listeners")
	changesLists   = fieldNumbers(&wslfwdv1.Changes{}, "added", "removed")
	errCountFields = errors.New("not a well-formed agent message")
)

func fieldNumbers(m protobuf.Message, names ...string) map[protowire.Number]bool {
	fs := m.ProtoReflect().Descriptor().Fields()
	out := make(map[protowire.Number]bool, len(names))
	for _, n := range names {
		out[fs.ByName(protoreflect.Name(n)).Number()] = true
	}
	return out
}

// ListenerEntries counts the listeners an encoded AgentMessage lists, in
// its snapshot and its changes (added and removed together), without
// decoding it: protobuf merges a field given more than once, so every
// occurrence counts. It lets the daemon refuse a message that lists more
// listeners than any agent may send before decoding allocates a struct
// for each (12 bytes on the wire each, 150 or so in memory).
func ListenerEntries(msg []byte) (int, error) {
	n := 0
	err := eachField(msg, func(num protowire.Number, v []byte) error {
		var lists map[protowire.Number]bool
		switch num {
		case snapshotField:
			lists = snapshotLists
		case changesField:
			lists = changesLists
		default:
			return nil
		}
		return eachField(v, func(num protowire.Number, _ []byte) error {
			if lists[num] {
				n++
			}
			return nil
		})
	})
	return n, err
}

// eachField calls f with the number and contents of every length-delimited
// field of the encoded message b, skipping the others.
func eachField(b []byte, f func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errCountFields
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errCountFields
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return errCountFields
		}
		if err := f(num, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
