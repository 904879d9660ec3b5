//go:build !windows

package fileperm

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkPrivate checks the owner, then the mode.
func checkPrivate(path string, fi fs.FileInfo, othersRead bool) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("check access to %s: no owner information", path)
	}
	if err := checkOwnerUID(path, st.Uid, uint32(os.Geteuid())); err != nil {
		return err
	}
	return checkModeBits(path, fi.Mode(), othersRead)
}

func checkMode(path string, mode fs.FileMode) error { return checkModeBits(path, mode, false) }
