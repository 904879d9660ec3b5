package winexec

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// SystemPath takes the Windows folder from Windows, never from
// %SystemRoot%, which a user's own variables can set for the processes
// UAC elevates.
func TestSystemPath(t *testing.T) {
	win, err := windows.GetSystemWindowsDirectory()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(win, `System32\netsh.exe`)
	for _, root := range []string{`D:\Evil`, `relative`, ``} {
		t.Setenv("SystemRoot", root)
		if got := NetshPath(); got != want {
			t.Errorf("NetshPath with SystemRoot=%q: %q, want %q", root, got, want)
		}
	}
}

// TestNetshRuns runs the real netsh by absolute path with a script: it
// must start (under Wine it prints nothing and exits 0).
func TestNetshRuns(t *testing.T) {
	SetScriptDir(t.TempDir())
	t.Cleanup(func() { SetScriptDir("") })
	if _, err := Netsh(t.Context(), "interface portproxy show all\r\n"); err != nil {
		t.Fatal(err)
	}
}

func TestOutputExitStatus(t *testing.T) {
	out, err := Output(t.Context(), SystemPath(`System32\cmd.exe`), "/c", "exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "\r\n(cmd.exe exit status 3)" {
		t.Errorf("output = %q", got)
	}
}

// TestConsoleCodePage: whatever the console, the code page is a real one,
// never 0 (which would read every localised message as UTF-8).
func TestConsoleCodePage(t *testing.T) {
	if cp := consoleCodePage(); cp == 0 {
		t.Fatal("consoleCodePage() = 0")
	}
}

// Netsh's script file goes where SetScriptDir says (the state directory),
// never to %TEMP%: without a folder set it refuses to run, and a folder
// that does not exist makes the write fail there.
func TestNetshScriptDir(t *testing.T) {
	if _, err := Netsh(t.Context(), "interface portproxy show all\r\n"); !errors.Is(err, errNoScriptDir) {
		t.Fatalf("Netsh with no script dir = %v, want a refusal", err)
	}
	missing := t.TempDir() + `\gone`
	SetScriptDir(missing)
	t.Cleanup(func() { SetScriptDir("") })
	_, err := Netsh(t.Context(), "interface portproxy show all\r\n")
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Netsh with script dir %s = %v, want a failure to write there", missing, err)
	}
	SetScriptDir(t.TempDir())
	if _, err := Netsh(t.Context(), "interface portproxy show all\r\n"); err != nil {
		t.Fatal(err)
	}
}
