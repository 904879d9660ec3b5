package install

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/wslfwd/wslfwd/internal/atomicfile"
)

// readFile reads path; a file that does not exist reads as nil.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// writeFile makes path hold data with mode perm, and reports whether it
// had to. A new content replaces the file atomically: a crash leaves the
// old file or the new one, and a running agent keeps its old binary.
func writeFile(path string, data []byte, perm fs.FileMode) (changed bool, err error) {
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		fi, err := os.Stat(path)
		if err != nil {
			return false, err
		}
		if fi.Mode().Perm() == perm {
			return false, nil
		}
		if err := os.Chmod(path, perm); err != nil {
			return false, fmt.Errorf("chmod %s: %w", path, err)
		}
		return true, nil
	}
	return true, atomicfile.Write(path, data, perm)
}

// removeFile removes path and reports whether it was there.
func removeFile(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove %s: %w", path, err)
	}
	return true, nil
}
