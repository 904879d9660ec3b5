package winsvc

import (
	"fmt"
	"os"
	"path/filepath"
)

// LogFileName is the service's log file in the state directory.
const LogFileName = "wslfwd-hostd.log"

// maxLogSize is when the log file is rotated at service start: the old one
// is kept as LogFileName.1, so the logs take at most twice this.
const maxLogSize = 10 << 20

// OpenLog opens the log file in dir for appending, first moving a file
// larger than maxLogSize aside to LogFileName.1.
func OpenLog(dir string) (*os.File, error) {
	path := filepath.Join(dir, LogFileName)
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("rotate log file: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}
