// Package winsvc runs wslfwd-hostd as a Windows service: installing it
// (LocalSystem, automatic start, restart after a crash, an Event Log
// source), starting and stopping it, the service entry point that runs
// the daemon, and keeping the state directory readable by Administrators
// and SYSTEM only, since it holds the tokens.
package winsvc

// Name is the service's name, and its Event Log source.
const Name = "wslfwd-hostd"

// DisplayName and Description are what services.msc shows.
const (
	DisplayName = "wslfwd host daemon"
	Description = "Forwards ports of services in WSL to the Windows host and its LAN (wslfwd)."
)

// StateSDDL is the state directory's DACL: full control for SYSTEM and
// Administrators, inherited by every file in it, nothing inherited from
// %ProgramData% (whose default lets every user read).
const StateSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// FileSDDL is a token file's own DACL: SYSTEM and Administrators only.
const FileSDDL = "D:P(A;;FA;;;SY)(A;;FA;;;BA)"

// ReadableFileSDDL is the read token's DACL: FileSDDL, and reading
// (FILE_GENERIC_READ) for BUILTIN\Users, so that the CLI's read commands
// work from a normal prompt. Users reach the file in the state directory,
// which they may not list, by the right to bypass traverse checking that
// Windows gives everyone. The daemon's start-up check accepts this for the
// read token only (fileperm.CheckReadShared).
const ReadableFileSDDL = FileSDDL + "(A;;FR;;;BU)"
