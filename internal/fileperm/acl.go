package fileperm

import (
	"fmt"
	"slices"
)

// Well-known SIDs trusted with the daemon's files on Windows.
const (
	sidSystem         = "S-1-5-18"
	sidAdministrators = "S-1-5-32-544"
	// sidUsers (BUILTIN\Users) is every interactive user: it may read
	// the read token.
	sidUsers = "S-1-5-32-545"
	// sidCreatorOwner in an inheritable entry stands for whoever creates
	// a file inside: the daemon itself, whose ownership is checked.
	sidCreatorOwner = "S-1-3-0"
)

// readAccess are the rights that only read a file: FILE_GENERIC_READ and
// FILE_GENERIC_EXECUTE (read data, attributes and extended attributes,
// execute, read the DACL, synchronize) and GENERIC_READ and
// GENERIC_EXECUTE. An entry that grants anything else may change the file
// or who may use it.
const readAccess = 0x1 | 0x8 | 0x20 | 0x80 | 0x20000 | 0x100000 | 0x20000000 | 0x80000000

// ace is one entry of a DACL, as far as the check cares.
type ace struct {
	Allow bool   // an access-allowed entry (deny entries only narrow access)
	SID   string // whom it names, as S-1-…
	Mask  uint32 // the access it grants or denies
}

// readOnly reports whether the entry grants reading only.
func (e ace) readOnly() bool { return e.Mask&^readAccess == 0 }

// descriptor is the part of a Windows security descriptor that is judged.
type descriptor struct {
	Owner    string // the owner's SID
	NullDACL bool   // no DACL at all: everyone has full access
	ACEs     []ace
}

// judgeDescriptor refuses an owner other than SYSTEM, Administrators or
// self (the account the daemon runs as), and any allow entry for anyone
// else, or, when others may read such a file (k), any such entry that
// grants more than reading. Inherit-only entries count too: on a
// directory they reach every file created in it later. Each refusal says
// what fixes it: k's install step, or the icacls command.
func judgeDescriptor(path string, isDir bool, d descriptor, self string, k kind) error {
	trusted := []string{sidSystem, sidAdministrators, self}
	if !slices.Contains(trusted, d.Owner) {
		return fmt.Errorf("%s is owned by %s, not by Administrators or SYSTEM: in an elevated prompt %s, "+
			"or run icacls \"%s\" /setowner *%s", path, d.Owner, k.installFix(), path, sidAdministrators)
	}
	if d.NullDACL {
		return fmt.Errorf("%s has no access list, so everyone may use it: in an elevated prompt run %s",
			path, fixDACL(path, isDir, ""))
	}
	for _, e := range d.ACEs {
		if k.othersRead() && e.readOnly() {
			continue
		}
		if !e.Allow || slices.Contains(trusted, e.SID) || e.SID == sidCreatorOwner {
			continue
		}
		what := "allows access to " + e.SID
		if k.othersRead() {
			what = fmt.Sprintf("lets %s change it (access mask %#x)", e.SID, e.Mask)
		}
		return fmt.Errorf("%s %s, beyond Administrators and SYSTEM: in an elevated prompt %s, or run %s",
			path, what, k.installFix(), fixAccess(path, isDir, e.SID, k))
	}
	return nil
}

// fixAccess is the icacls command that takes away what sid was granted:
// for the read token, Users may read it again; for any other file only
// SYSTEM and Administrators are left (fixDACL), which also ends what the
// file inherited, which /remove:g cannot take away.
func fixAccess(path string, isDir bool, sid string, k kind) string {
	if k == readShared {
		return fmt.Sprintf("icacls \"%s\" /remove:g *%s /grant:r *%s:R", path, sid, sidUsers)
	}
	return fixDACL(path, isDir, sid)
}

// fixDACL is the icacls command that leaves only SYSTEM and
// Administrators (inherited by files, for a directory), removing the
// grants to extra if given.
func fixDACL(path string, isDir bool, extra string) string {
	inherit := ""
	if isDir {
		inherit = "(OI)(CI)"
	}
	remove := ""
	if extra != "" {
		remove = " /remove:g *" + extra
	}
	return fmt.Sprintf("icacls \"%s\" /inheritance:r%s /grant:r *%s:%sF *%s:%sF",
		path, remove, sidSystem, inherit, sidAdministrators, inherit)
}
