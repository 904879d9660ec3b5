//go:build windows

// Command powershell is the strict PowerShell stand-in (package
// powershell) over Wine's registry. .ci/wine/standins.sh puts it in a
// Wine prefix as C:\windows\system32\WindowsPowerShell\v1.0\powershell.exe.
package main

import (
	"os"

	"github.com/wslfwd/wslfwd/lab/winstandin/oem"
	"github.com/wslfwd/wslfwd/lab/winstandin/powershell"
	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

func main() {
	stdout, stderr, code := powershell.Shell{Store: state.Registry{}}.Run(os.Args[1:])
	cp := oem.CodePage()
	os.Stderr.Write([]byte(powershell.ProgressCLIXML))
	os.Stdout.Write(oem.Encode(stdout, cp))
	os.Stderr.Write(oem.Encode(stderr, cp))
	os.Stderr.Write([]byte(powershell.ProgressCLIXML))
	os.Exit(code)
}
