package atomicfile

import (
	"golang.org/x/sys/windows"
)

// replace renames tmp over path and returns only once the rename is on
// disk (MOVEFILE_WRITE_THROUGH). A directory cannot be opened for syncing
// on Windows, and NTFS writes its log of a rename lazily: os.Rename
// (MoveFileEx with MOVEFILE_REPLACE_EXISTING alone) can return with the
// rename lost to a power cut, and the daemon's ledger would then not name
// an entry it made a moment later.
func replace(tmp, path, _ string) error {
	from, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return err
	}
	to, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	return windows.MoveFileEx(from, to, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH)
}
