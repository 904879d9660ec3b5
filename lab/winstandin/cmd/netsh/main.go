//go:build windows

// Command netsh is the strict netsh stand-in (package netsh) over Wine's
// registry. .ci/wine/standins.sh puts it in a Wine prefix as
// C:\windows\system32\netsh.exe.
package main

import (
	"os"

	"github.com/wslfwd/wslfwd/lab/winstandin/netsh"
	"github.com/wslfwd/wslfwd/lab/winstandin/oem"
	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

func main() {
	out, code := netsh.Tool{Store: state.Registry{}, ReadFile: os.ReadFile}.Run(os.Args[1:])
	os.Stdout.Write(oem.Encode(out, oem.CodePage()))
	os.Exit(code)
}
