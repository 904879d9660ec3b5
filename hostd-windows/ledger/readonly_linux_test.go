//go:build linux

package ledger

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// fsImmutableFL is FS_IMMUTABLE_FL from linux/fs.h (x/sys/unix lacks it).
const fsImmutableFL = 0x10

// makeReadOnly makes dir unwritable for this process until the test ends:
// by mode bits for a normal user, by the immutable attribute for root (which
// mode bits do not stop).
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Skipf("the test directory's filesystem has no inode flags (needed to stop root writing): %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsImmutableFL)); err != nil {
		t.Skipf("the test directory's filesystem cannot make it immutable (needed to stop root writing): %v", err)
	}
	t.Cleanup(func() {
		if g, err := os.Open(dir); err == nil {
			unix.IoctlSetPointerInt(int(g.Fd()), unix.FS_IOC_SETFLAGS, int(flags))
			g.Close()
		}
	})
}

func TestReplaceReadOnlyDir(t *testing.T) {
	dir := t.TempDir()
	l := openWith(t, dir, recs(e80)...)
	makeReadOnly(t, dir)
	err := l.Replace(recs(e80, e53))
	if err == nil {
		t.Fatal("Replace into a read-only directory succeeded")
	}
	t.Logf("error: %v", err)
	if got := l.Entries(); len(got) != 1 || got[0] != e80 {
		t.Fatalf("Entries after failed Replace = %v, want [%v]", got, e80)
	}
	// The file on disk is unchanged too.
	l2, err := Open(dir, "portproxy")
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.Entries(); len(got) != 1 || got[0] != e80 {
		t.Fatalf("reopened Entries = %v, want [%v]", got, e80)
	}
}
