package winexec

import "golang.org/x/sys/windows"

var procGetOEMCP = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetOEMCP")

// consoleCodePage is the code page console tools write their output in:
// the console's output code page, which a child started from a console
// shares; with no console (the service), the OEM code page, which the
// console Windows makes for the child starts with.
func consoleCodePage() uint32 {
	if cp, err := windows.GetConsoleOutputCP(); err == nil && cp != 0 {
		return cp
	}
	cp, _, _ := procGetOEMCP.Call() // cannot fail: it returns a number
	return uint32(cp)
}
