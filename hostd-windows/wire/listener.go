package wire

import (
	"cmp"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// CompareListeners orders listeners by protocol, port, listen address
// and socket inode: the order an agent's listeners are listed and decided
// in.
func CompareListeners(a, b *wslfwdv1.Listener) int {
	return cmp.Or(
		cmp.Compare(a.GetProtocol(), b.GetProtocol()),
		cmp.Compare(a.GetPort(), b.GetPort()),
		cmp.Compare(a.GetListen(), b.GetListen()),
		cmp.Compare(a.GetInode(), b.GetInode()),
	)
}
