//go:build !linux

// Command lab is wslfwd's test bed. It builds Linux network namespaces, so
// it runs on Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "lab: the lab needs Linux network namespaces; run it on Linux as root")
	os.Exit(1)
}
