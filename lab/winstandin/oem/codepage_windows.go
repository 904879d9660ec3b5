package oem

import "golang.org/x/sys/windows"

var procGetOEMCP = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetOEMCP")

// CodePage is the code page console tools write in: the console's output
// code page, else the system's OEM code page.
func CodePage() uint32 {
	if cp, err := windows.GetConsoleOutputCP(); err == nil && cp != 0 {
		return cp
	}
	cp, _, _ := procGetOEMCP.Call()
	return uint32(cp)
}
