package fileperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// check reads the owner and DACL of f, when the file is open, else of
// path, and judges them for this process's user.
func check(path string, f *os.File, fi fs.FileInfo, k kind) error {
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return fmt.Errorf("check access to %s: this process's user: %w", path, err)
	}
	return checkFor(path, f, fi, user.User.Sid.String(), k)
}

// checkFor is check for the account whose SID is self.
func checkFor(path string, f *os.File, fi fs.FileInfo, self string, k kind) error {
	d, err := readDescriptor(path, f)
	if err != nil {
		return err
	}
	if underWine() {
		// Wine keeps no file DACLs: it makes one up from the Unix mode
		// bits (Everyone may read a 0644 file) and maps a DACL it is
		// given back onto them only loosely, so the DACL it reports is
		// not the one the daemon set. Judge the owner only there; Wine
		// runs the project's Windows tests, never a real daemon.
		d.ACEs, d.NullDACL = nil, false
	}
	return judgeDescriptor(path, fi.IsDir(), d, self, k)
}

// CheckConfigFor checks the config file at path as CheckConfig would in
// a process of the account whose SID is self: install, run by an
// administrator, judges the config as the service, which runs as SYSTEM,
// will at its start. Under Wine, which keeps no owner a program sets,
// the owner is judged for this process's user instead.
func CheckConfigFor(path, self string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check access to %s: %w", path, err)
	}
	if underWine() {
		return check(path, nil, fi, config)
	}
	return checkFor(path, nil, fi, self, config)
}

// underWine reports whether the process runs under Wine, whose ntdll
// exports wine_get_version; Windows' does not.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// checkMode: Windows files have no Unix mode; CheckPrivate is the check.
func checkMode(string, fs.FileMode) error { return nil }

// readDescriptor reads the owner and the DACL's entries of f, when the
// file is open, else of path.
func readDescriptor(path string, f *os.File) (descriptor, error) {
	var sd *windows.SECURITY_DESCRIPTOR
	var err error
	const info = windows.OWNER_SECURITY_INFORMATION | windows.DACL_SECURITY_INFORMATION
	if f != nil {
		sd, err = windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT, info)
	} else {
		sd, err = windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info)
	}
	if err != nil {
		return descriptor{}, fmt.Errorf("read access of %s: %w", path, err)
	}
	return descriptorOf(path, sd)
}

// descriptorOf reads the owner and the DACL's entries of sd, path's.
func descriptorOf(path string, sd *windows.SECURITY_DESCRIPTOR) (descriptor, error) {
	owner, _, err := sd.Owner()
	if err != nil {
		return descriptor{}, fmt.Errorf("owner of %s: %w", path, err)
	}
	d := descriptor{Owner: owner.String()}
	dacl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || (err == nil && dacl == nil) {
		// No DACL, or a NULL one: both let everyone in.
		d.NullDACL = true
		return d, nil
	}
	if err != nil {
		return descriptor{}, fmt.Errorf("access list of %s: %w", path, err)
	}
	for i := range uint32(dacl.AceCount) {
		var e *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &e); err != nil {
			return descriptor{}, fmt.Errorf("access list of %s, entry %d: %w", path, i, err)
		}
		d.ACEs = append(d.ACEs, aceOf(e))
	}
	return d, nil
}

// Deny entry types (winnt.h); x/sys names only the plain one.
const (
	deniedObjectACEType         = 6
	deniedCallbackACEType       = 10
	deniedCallbackObjectACEType = 12
)

// aceOf reads one entry. Only the plain allow and deny entries have the
// SID right after the mask; any other allow variant is kept as an allow
// entry for an unknown trustee, so it is refused rather than misread.
func aceOf(e *windows.ACCESS_ALLOWED_ACE) ace {
	switch e.Header.AceType {
	case windows.ACCESS_ALLOWED_ACE_TYPE:
		return ace{Allow: true, SID: (*windows.SID)(unsafe.Pointer(&e.SidStart)).String(), Mask: uint32(e.Mask)}
	case windows.ACCESS_DENIED_ACE_TYPE, deniedObjectACEType, deniedCallbackACEType, deniedCallbackObjectACEType:
		return ace{Allow: false, Mask: uint32(e.Mask)}
	}
	// Whatever it grants, it counts as everything.
	return ace{Allow: true, SID: fmt.Sprintf("an entry of type %d", e.Header.AceType), Mask: ^uint32(0)}
}
