package control

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// fit returns fs without the rows that take it past budget bytes, encoded
// as the forwards of a ListForwardsResponse, and how many it left out. The
// rows of listeners not forwarded (blocked) go first, from the end of the
// order, then the others likewise: so the answer keeps what is forwarded,
// and the CLI can still show a table of thousands of made-up listeners,
// shortened, rather than fail to read it.
func fit(fs []*wslfwdv1.Forward, budget int) ([]*wslfwdv1.Forward, uint32) {
	sizes := make([]int, len(fs))
	total := 0
	for i, f := range fs {
		sizes[i] = protowire.SizeTag(1) + protowire.SizeBytes(proto.Size(f))
		total += sizes[i]
	}
	if total <= budget {
		return fs, 0
	}
	drop := make([]bool, len(fs))
	omitted := uint32(0)
	for _, blockedPass := range []bool{true, false} {
		for i := len(fs) - 1; i >= 0 && total > budget; i-- {
			if drop[i] || blockedPass && fs[i].GetState() != wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED {
				continue
			}
			drop[i], total, omitted = true, total-sizes[i], omitted+1
		}
	}
	out := make([]*wslfwdv1.Forward, 0, len(fs)-int(omitted))
	for i, f := range fs {
		if !drop[i] {
			out = append(out, f)
		}
	}
	return out, omitted
}
