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

// SecureReadableFile gives the file ReadableFileSDDL's DACL: SecureFile's,
// and reading for Users. It is for the read token only.
func SecureReadableFile(path string) error { return setDACL(path, ReadableFileSDDL) }

// SecureConfig gives the config file at path, when it lies in the state
// directory stateDir, SecureFile's DACL and Administrators as its owner,
// and reports whether it did. A file written there from an elevated
// editor belongs to the user who wrote it, under Windows' default owner
// policy, and an owner may always change a file's DACL: so any program
// the user runs, elevated or not, could rewrite the config the service
// reads as SYSTEM. A config elsewhere is the user's to secure, and is
// only judged (fileperm.CheckConfigFor).
func SecureConfig(stateDir, path string) (bool, error) {
	if !InDir(stateDir, path) {
		return false, nil
	}
	if err := SecureFile(path); err != nil {
		return false, err
	}
	return true, SetAdminOwner(path)
}

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

// SetAdminOwner makes Administrators the owner of path. Whether a file an
// elevated administrator creates is owned by Administrators or by that
// user's own account depends on a policy setting; the daemon, running as
// SYSTEM, trusts only SYSTEM, Administrators or itself as owners
// (fileperm), so install names the owner rather than leave it to chance.
func SetAdminOwner(path string) error {
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return fmt.Errorf("the Administrators SID: %w", err)
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION, admins, nil, nil, nil)
	if err != nil {
		return fmt.Errorf("make Administrators the owner of %s: %w", path, err)
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
