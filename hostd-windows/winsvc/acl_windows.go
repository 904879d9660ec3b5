package winsvc

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// Elevated reports whether the process runs with an administrator token.
func Elevated() bool { return windows.GetCurrentProcessToken().IsElevated() }

// SecureDir gives dir StateSDDL's DACL, replacing what it inherited; the
// files in it inherit the new one.
func SecureDir(dir string) error { return setDACL(dir, StateSDDL) }

// SecureFile gives the file FileSDDL's DACL: Administrators and SYSTEM.
func SecureFile(path string) error { return setDACL(path, FileSDDL) }

func setDACL(path, sddl string) error {
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return fmt.Errorf("parse %s: %w", sddl, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("DACL of %s: %w", sddl, err)
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("restrict access to %s: %w", path, err)
	}
	return nil
}

// DACL returns the DACL of path in SDDL, for checks and diagnostics.
func DACL(path string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", fmt.Errorf("read access of %s: %w", path, err)
	}
	return sd.String(), nil
}
