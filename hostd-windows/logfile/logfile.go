// Package logfile is the daemon's log file: rotated by size while the
// daemon runs, with a bounded number of old files, on every OS.
//
// A daemon that runs for months must not fill the disk, whoever makes it
// log (a peer that keeps failing authentication, an agent that keeps
// misbehaving): the file is rotated when a write would take it past
// MaxSizeMiB, and only MaxBackups rotated files are kept, so the logs take
// at most (MaxBackups+1) × MaxSizeMiB = 40 MiB. Rotation is
// gopkg.in/natefinch/lumberjack.v2: small, widely used, no dependencies,
// and it rotates under the writer's lock, so no line is split or lost.
package logfile

import (
	"io"

	"gopkg.in/natefinch/lumberjack.v2"
)

// FileName is the log file's name in the state directory, where the
// Windows service writes it by default.
const FileName = "wslfwd-hostd.log"

// Size limits: the log file is rotated before it passes MaxSizeMiB, and
// MaxBackups rotated files are kept (named with their rotation time).
const (
	MaxSizeMiB = 10
	MaxBackups = 3
)

// Open returns a writer appending to path (created owner-only when
// missing) that rotates by size. Close it when done.
func Open(path string) io.WriteCloser {
	return open(path, MaxSizeMiB, MaxBackups)
}

func open(path string, maxSizeMiB, maxBackups int) io.WriteCloser {
	return &lumberjack.Logger{
		Filename:   path,
		MaxSize:    maxSizeMiB,
		MaxBackups: maxBackups,
		LocalTime:  false, // rotated names in UTC, as the log lines are
	}
}
