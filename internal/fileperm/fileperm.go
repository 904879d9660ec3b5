// Package fileperm checks that the files holding secrets (the bearer
// tokens) and the daemon's state directory are private to the account the
// daemon runs as, that nobody else may change its config file, and refuses
// with the command that fixes them.
//
// The daemon runs as LocalSystem on Windows and as root elsewhere, so a
// token another account could read or replace would hand that account the
// daemon's rights. Who counts as trusted:
//
//   - Linux and other Unix: the file's owner must be the user the process
//     runs as (root for the daemon) and its mode must give group and
//     others nothing (mode & 0o077 == 0). A developer who runs the daemon
//     or its tests without root therefore needs the files to be their own,
//     which is what the daemon creates; requiring root there would make
//     the daemon unusable without root for no gain, since such a daemon
//     holds no more rights than its user.
//   - Windows: the owner must be SYSTEM, Administrators or the process's
//     own user, and the DACL may allow access to those only (deny entries
//     are fine; a missing DACL, which allows everyone, is not).
//
// The read token is the one file others may read (CheckReadShared): it is
// meant for every user of the machine, so that the CLI's read commands
// work from a normal prompt, and it grants only what any of them may see.
// Others still may not change it: on Unix the mode gives group and others
// no write access (mode & 0o022 == 0), on Windows entries beyond SYSTEM,
// Administrators and self grant reading only. The owner rule is the same.
// The config file is judged alike (CheckConfig): it holds no secret, but
// it names the token files, the state directory, the log file and the
// forwards, so whoever may change it has the daemon's rights at its next
// start.
//
// The judging is plain Go over plain values (mode and owner; owner SID and
// the DACL's entries), so every refusal is tested on every OS; only
// reading those values is per-OS.
package fileperm

import (
	"fmt"
	"io/fs"
	"os"
)

// CheckPrivate checks that path, a file or a directory, belongs to the
// account this process runs as and that nobody else may use it.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check access to %s: %w", path, err)
	}
	return check(path, nil, fi, private)
}

// CheckReadShared checks path like CheckPrivate, except that others may
// read it (never change it). It is the check on the read token only.
func CheckReadShared(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check access to %s: %w", path, err)
	}
	return check(path, nil, fi, readShared)
}

// CheckConfig checks the open config file f like CheckReadShared, with
// hints fit for a config. It judges the file that is then read, not its
// path again, so nobody who may replace the file in its folder can swap
// it between the check and the read.
func CheckConfig(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("check access to %s: %w", f.Name(), err)
	}
	return check(f.Name(), f, fi, config)
}

// kind is what a file is to the daemon: who else may use it, and what
// fixes one that allows more.
type kind int

const (
	private    kind = iota // the admin and agent tokens, the state directory
	readShared             // the read token
	config                 // the daemon's config file
)

// othersRead reports whether others may read such a file.
func (k kind) othersRead() bool { return k != private }

// installFix is what, run elevated, gives such a file the access it
// needs.
func (k kind) installFix() string {
	switch k {
	case readShared:
		return "run wslfwd-hostd install (it secures the read token)"
	case config:
		return "run wslfwd-hostd install -- --config with it, once it lies in the state directory (install secures a config there)"
	}
	return "run wslfwd-hostd install (it secures the state directory and tokens)"
}

// CheckNotShared checks only the Unix mode: that neither group nor others
// may read or write path. It is the agent's check on its token file, which
// root in the distro provides (any owner; the mode says who else can read
// it). Windows has no such mode: there it checks nothing.
func CheckNotShared(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check access to %s: %w", path, err)
	}
	return checkMode(path, fi.Mode())
}

// checkModeBits refuses a mode that gives group or others any access,
// or, when others may read such a file, write access.
func checkModeBits(path string, mode fs.FileMode, k kind) error {
	if k.othersRead() {
		if mode.Perm()&0o022 == 0 {
			return nil
		}
		return fmt.Errorf("%s may be written by group or others (mode %04o), but only its owner may change it: run chmod 644 %s",
			path, mode.Perm(), path)
	}
	if mode.Perm()&0o077 == 0 {
		return nil
	}
	want := "600"
	if mode.IsDir() {
		want = "700"
	}
	return fmt.Errorf("%s is open to group or others (mode %04o), but it must be private to its owner: run chmod %s %s",
		path, mode.Perm(), want, path)
}

// checkOwnerUID refuses a file not owned by the process's user, naming
// root when that user is root.
func checkOwnerUID(path string, owner, self uint32, k kind) error {
	if owner == self {
		return nil
	}
	who := fmt.Sprintf("uid %d, the user the daemon runs as", self)
	if self == 0 {
		who = "root, the user the daemon runs as"
	}
	again := " (or delete it to have it created again)"
	if k == config {
		again = "" // the daemon makes tokens and its state directory, never a config
	}
	return fmt.Errorf("%s is owned by uid %d, not by %s: run chown %d %s%s",
		path, owner, who, self, path, again)
}
