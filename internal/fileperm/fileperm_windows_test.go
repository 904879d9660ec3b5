package fileperm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// setDACL gives path the DACL in sddl, replacing what it inherited.
func setDACL(t *testing.T, path, sddl string) {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// readDescriptor reads a real file's owner and DACL entries as SIDs.
func TestReadDescriptor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := readDescriptor(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.Owner, "S-1-") || len(d.ACEs) == 0 {
		t.Fatalf("descriptor = %+v, want an owner SID and entries", d)
	}
	for _, e := range d.ACEs {
		if e.Allow && !strings.HasPrefix(e.SID, "S-1-") {
			t.Errorf("entry %+v: SID not read", e)
		}
	}
	if err := CheckNotShared(path); err != nil {
		t.Errorf("CheckNotShared has no Unix mode to judge on Windows: %v", err)
	}
}

// On Windows, SYSTEM and Administrators only passes, and a grant to
// Everyone is refused by SID. Wine makes DACLs up from Unix modes, so
// there only the owner is judged (underWine).
func TestCheckPrivateReadsDACL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	setDACL(t, path, "D:P(A;;FA;;;SY)(A;;FA;;;BA)")
	if err := CheckPrivate(path); err != nil {
		t.Fatalf("SYSTEM and Administrators only: %v", err)
	}
	if underWine() {
		t.Skip("Wine keeps no file DACLs; TestJudgeDescriptor covers the rules")
	}
	setDACL(t, path, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;WD)")
	err := CheckPrivate(path)
	if err == nil || !strings.Contains(err.Error(), "allows access to S-1-1-0") || !strings.Contains(err.Error(), "icacls") {
		t.Fatalf("Everyone may read: err = %v, want a refusal naming S-1-1-0 and the icacls fix", err)
	}
}

// The read token's DACL (Users may read) passes CheckReadShared and not
// CheckPrivate; Users allowed to modify it fails both.
func TestCheckReadSharedReadsDACL(t *testing.T) {
	if underWine() {
		t.Skip("Wine keeps no file DACLs; TestJudgeDescriptorReadShared covers the rules")
	}
	path := filepath.Join(t.TempDir(), "read.token")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	setDACL(t, path, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;BU)")
	if err := CheckReadShared(path); err != nil {
		t.Fatalf("Users may read: %v", err)
	}
	if err := CheckPrivate(path); err == nil {
		t.Fatal("CheckPrivate accepted a file Users may read")
	}
	setDACL(t, path, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FRFW;;;BU)")
	if err := CheckReadShared(path); err == nil || !strings.Contains(err.Error(), "lets S-1-5-32-545 change it") {
		t.Fatalf("Users may write: err = %v, want a refusal naming S-1-5-32-545", err)
	}
}

// CheckConfig reads the DACL through the open file's handle: a config
// Users may read passes, one Users may write does not. CheckConfigFor
// judges as another account: a file this test's user owns is refused for
// SYSTEM, the service's account, except under Wine, which keeps no owner.
func TestCheckConfigReadsDACL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wslfwd.toml")
	if err := os.WriteFile(path, []byte("udp = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	setDACL(t, path, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;BU)")
	check := func() error {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return CheckConfig(f)
	}
	if err := check(); err != nil {
		t.Fatalf("Users may read: %v", err)
	}
	err := CheckConfigFor(path, sidSystem)
	if underWine() {
		if err != nil {
			t.Fatalf("under Wine the owner is judged for this process: %v", err)
		}
		t.Skip("Wine keeps no file DACLs or owners; TestConfigRule covers the rules")
	}
	if err == nil || !strings.Contains(err.Error(), "/setowner") {
		t.Fatalf("a config this test's user owns, judged for SYSTEM: err = %v, want the owner refused", err)
	}
	setDACL(t, path, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FRFW;;;BU)")
	if err := check(); err == nil || !strings.Contains(err.Error(), "lets S-1-5-32-545 change it") {
		t.Fatalf("Users may write: err = %v, want a refusal naming S-1-5-32-545", err)
	}
}
