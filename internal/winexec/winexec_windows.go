package winexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"

	"github.com/wslfwd/wslfwd/internal/wintext"
)

// SystemPath returns <the Windows folder>\<rel>. Go refuses to run a
// program found relative to the current directory, and one found on PATH
// could be anyone's, so system tools are always run by this path. The
// folder comes from Windows itself, never from %SystemRoot%: a user's
// variables (HKCU\Environment) reach the processes UAC elevates for that
// user, so a program of theirs running without elevation could otherwise
// point an elevated install, setup or uninstall at a wsl.exe or netsh.exe
// of its own, and hand it the agent token.
func SystemPath(rel string) string {
	root, err := windows.GetSystemWindowsDirectory()
	if err != nil || !filepath.IsAbs(root) {
		root = `C:\Windows`
	}
	return filepath.Join(root, rel)
}

// Output runs the program and returns its combined output, decoded from
// the console's code page (or UTF-16LE), with a non-zero exit status
// appended. The error is set only when the program
// could not be run.
func Output(ctx context.Context, path string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return said(path, wintext.DecodeCodePage(out, consoleCodePage()), err)
}

// said is what a program at path said (text) and how it ended (err, its
// run's): text with a non-zero exit status appended, or an error only
// when the program could not be run.
func said(path, text string, err error) ([]byte, error) {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return []byte(strings.TrimRight(text, "\r\n") + fmt.Sprintf("\r\n(%s exit status %d)", filepath.Base(path), exit.ExitCode())), nil
	}
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", path, err)
	}
	return []byte(text), nil
}

// Netsh runs a netsh script with `netsh -f` in one process. The script
// file is written in ScriptDir (see SetScriptDir).
func Netsh(ctx context.Context, script string) ([]byte, error) {
	dir := ScriptDir()
	if dir == "" {
		return nil, errNoScriptDir
	}
	f, err := os.CreateTemp(dir, "wslfwd-netsh-*.txt")
	if err != nil {
		return nil, fmt.Errorf("create netsh script: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(script)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write netsh script: %w", err)
	}
	return Output(ctx, NetshPath(), "-f", f.Name())
}

// NetshPath is %SystemRoot%\System32\netsh.exe.
func NetshPath() string { return SystemPath(`System32\netsh.exe`) }

// PowerShell runs a script in Windows PowerShell, passed encoded so no
// quoting of the command line can change it. A script too long for one
// command line is refused here, in words, rather than by CreateProcess.
//
// Its output is what the script wrote to stdout, decoded; what it wrote
// to stderr follows, with the exit status, only when it failed. Windows
// PowerShell writes its progress records ("Preparing modules for first
// use.") to a redirected stderr as a CLIXML block even when all goes
// well, at any point of the run, and the parsers of a listing, which end
// at its marker and refuse lines they do not know, must not see them.
func PowerShell(ctx context.Context, script string) ([]byte, error) {
	if !PowerShellFits(script) {
		return nil, fmt.Errorf("a PowerShell script of %d characters does not fit on a command line (%d characters at most, encoded)", len(script), MaxCommandLine)
	}
	path := SystemPath(`System32\WindowsPowerShell\v1.0\powershell.exe`)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, PowerShellArgs(script)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	cp := consoleCodePage()
	text := wintext.DecodeCodePage(stdout.Bytes(), cp)
	if err != nil {
		text = strings.TrimRight(text, "\r\n") + "\r\n" + wintext.DecodeCodePage(stderr.Bytes(), cp)
	}
	return said(path, text, err)
}
