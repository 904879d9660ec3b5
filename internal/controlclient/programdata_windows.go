package controlclient

import "golang.org/x/sys/windows"

// programData is Windows' ProgramData folder (Env.ProgramData).
func programData() (string, error) {
	return windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
}
