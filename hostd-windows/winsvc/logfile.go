package winsvc

import (
	"fmt"
	"os"
	"path/filepath"
)

// StderrFileName is where the service's stderr goes, in the state
// directory. The daemon logs to its own size-rotated file (package
// logfile); what reaches stderr is only what bypasses the logger, above
// all a crash's stack trace, which the runtime writes there.
const StderrFileName = "wslfwd-hostd.stderr.log"

// maxStderrSize is when the stderr file is rotated at service start: the
// old one is kept as StderrFileName.1. A running daemon writes at most one
// crash trace there, so the two files stay near this size.
const maxStderrSize = 10 << 20

// OpenStderr opens the stderr file in dir for appending, first moving a
// file larger than maxStderrSize aside to StderrFileName.1.
func OpenStderr(dir string) (*os.File, error) {
	path := filepath.Join(dir, StderrFileName)
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxStderrSize {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("rotate stderr file: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open stderr file: %w", err)
	}
	return f, nil
}
