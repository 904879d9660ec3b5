//go:build !windows

package fileperm

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// check checks the owner, then the mode, both from fi (f's, when the
// file is open).
func check(path string, _ *os.File, fi fs.FileInfo, k kind) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("check access to %s: no owner information", path)
	}
	if err := checkOwnerUID(path, st.Uid, uint32(os.Geteuid()), k); err != nil {
		return err
	}
	return checkModeBits(path, fi.Mode(), k)
}

func checkMode(path string, mode fs.FileMode) error { return checkModeBits(path, mode, private) }
