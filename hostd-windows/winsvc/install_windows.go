package winsvc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// ProgramFiles is the Program Files folder, from the known-folder API
// rather than %ProgramFiles%, which the user running install can set.
func ProgramFiles() (string, error) {
	dir, err := windows.KnownFolderPath(windows.FOLDERID_ProgramFiles, 0)
	if err != nil {
		return "", fmt.Errorf("find the Program Files folder: %w", err)
	}
	return dir, nil
}

// SystemFiles is Files on Windows.
type SystemFiles struct{}

// Exists reports whether path exists.
func (SystemFiles) Exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// MkdirAll creates dir; it inherits its parent's DACL.
func (SystemFiles) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

// WritableBy reads dir's owner and DACL and judges them. Wine keeps no
// file DACLs (it makes one up from the Unix mode), so there only the
// owner is judged; Wine runs tests, never a real service.
func (SystemFiles) WritableBy(dir string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", fmt.Errorf("read access of %s: %w", dir, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return "", fmt.Errorf("owner of %s: %w", dir, err)
	}
	self, err := selfSID()
	if err != nil {
		return "", err
	}
	var aces []ACE
	dacl, _, err := sd.DACL()
	switch {
	case underWine():
	case errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || (err == nil && dacl == nil):
		return "everyone (no access list)", nil
	case err != nil:
		return "", fmt.Errorf("access list of %s: %w", dir, err)
	default:
		if aces, err = readACEs(dacl); err != nil {
			return "", fmt.Errorf("access list of %s: %w", dir, err)
		}
	}
	return WritableBy(owner.String(), self, aces), nil
}

// readACEs reads the allow and deny entries. An allow entry of another
// type (object, callback) is kept as full access for an unknown trustee,
// so it is refused rather than misread.
func readACEs(dacl *windows.ACL) ([]ACE, error) {
	var out []ACE
	for i := range uint32(dacl.AceCount) {
		var e *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &e); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		sid := (*windows.SID)(unsafe.Pointer(&e.SidStart)).String()
		switch e.Header.AceType {
		case windows.ACCESS_ALLOWED_ACE_TYPE:
			out = append(out, ACE{Allow: true, SID: sid, Mask: uint32(e.Mask)})
		case windows.ACCESS_DENIED_ACE_TYPE:
			out = append(out, ACE{Allow: false, SID: sid, Mask: uint32(e.Mask)})
		default:
			out = append(out, ACE{Allow: true, SID: fmt.Sprintf("an entry of type %d", e.Header.AceType), Mask: writeAccess})
		}
	}
	return out, nil
}

// Copy writes src to dst.new, moves a present dst aside to dst.old (a
// running program can be renamed, not overwritten), moves dst.new into
// place, and removes dst.old when it can (not while it runs: then the
// next install does).
func (SystemFiles) Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".new"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	old := dst + ".old"
	os.Remove(old) // left by an update while the service ran
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("move the old program aside: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	os.Remove(old)
	return nil
}

// stateOwner is the SID owning dir, "" when dir does not exist.
func stateOwner(dir string) (string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return "", fmt.Errorf("read the owner of %s: %w", dir, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return "", fmt.Errorf("owner of %s: %w", dir, err)
	}
	return owner.String(), nil
}

// CheckStateDir judges the state directory install finds
// (CheckStateOwner): an error for one another account made.
func CheckStateDir(dir string) (StateFound, error) {
	owner, err := stateOwner(dir)
	if err != nil {
		return 0, err
	}
	self, err := selfSID()
	if err != nil {
		return 0, err
	}
	found, err := CheckStateOwner(dir, owner, self)
	if found == StateUnsecured && underWine() {
		// Wine keeps no owner a program sets (SetAdminOwner): every file
		// reads as its user's, so there the owner cannot tell an install's
		// directory from another's. Wine runs the project's tests, never
		// a real daemon; CheckStateOwner's verdicts are tested on their own.
		return StateTrusted, nil
	}
	return found, err
}

// selfSID is the SID of the user this process runs as.
func selfSID() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("this process's user: %w", err)
	}
	return u.User.Sid.String(), nil
}

// underWine reports whether the process runs under Wine, whose ntdll
// exports wine_get_version; Windows' does not.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
