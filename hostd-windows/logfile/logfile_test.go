package logfile

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// dirUsage returns the number of files in dir and their total size.
func dirUsage(t *testing.T, dir string) (n int, total int64) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // removed by the cleanup in between
		}
		n++
		total += fi.Size()
	}
	return n, total
}

// Writing ten times the size limit rotates the file while it is open and
// leaves at most MaxBackups+1 files, (backups+1) × size bytes in all.
func TestRotatesAndStaysBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	const sizeMiB, backups = 1, 2
	w := open(path, sizeMiB, backups)
	defer w.Close()
	line := append(bytes.Repeat([]byte("x"), 1023), '\n')
	for range 10 * sizeMiB * 1024 {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > sizeMiB<<20 {
		t.Errorf("current log is %d bytes, past the %d MiB limit", fi.Size(), sizeMiB)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("log file mode %04o, want owner-only", fi.Mode().Perm())
	}
	// Old files beyond MaxBackups are removed by lumberjack's cleanup
	// goroutine just after each rotation: wait for it, bounded.
	waitfor.Cond(t, 5*time.Second, "old log files removed", func() bool {
		n, _ := dirUsage(t, dir)
		return n <= backups+1
	})
	n, total := dirUsage(t, dir)
	if n < 2 {
		t.Errorf("%d files: the log was never rotated", n)
	}
	if limit := int64(backups+1) * sizeMiB << 20; total > limit {
		t.Errorf("logs take %d bytes, want at most %d", total, limit)
	}
}
