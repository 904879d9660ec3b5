//go:build windows

// Command wsl is the wsl.exe stand-in (package wslexe) for tests under
// Wine: it passes its command line, standard input and WSL_UTF8 to the
// test's server named by WSLFWD_STANDIN_WSL and exits with the status
// that comes back. A test copies it into its Wine prefix as
// C:\windows\system32\wsl.exe.
package main

import (
	"fmt"
	"os"

	"github.com/wslfwd/wslfwd/lab/winstandin/wslexe"
)

func main() {
	r, err := wslexe.Parse(os.Args[1:])
	if err != nil {
		r.UTF8 = os.Getenv("WSL_UTF8") == "1"
		wslexe.Say(os.Stderr, r, err.Error())
		os.Exit(-1)
	}
	addr := os.Getenv(wslexe.AddrEnv)
	if addr == "" {
		fmt.Fprintf(os.Stderr, "wsl.exe stand-in: %s is not set\n", wslexe.AddrEnv)
		os.Exit(-1)
	}
	code, err := wslexe.Call(addr, os.Args[1:], os.Getenv("WSL_UTF8") == "1", os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wsl.exe stand-in: %v\n", err)
		os.Exit(-1)
	}
	os.Exit(code)
}
