// Package wslexe is the wsl.exe stand-in for tests under Wine, which has
// no WSL: the program (cmd/wsl) checks its command line as strictly as
// wsl.exe does, never more kindly, and passes it, its standard input and
// WSL_UTF8 over loopback TCP to a Linux-side Server, which runs the
// command in a "distro" of the test's making and sends back the output
// and exit status. Parse and the wire protocol are OS-neutral and tested
// on Linux.
package wslexe

import (
	"fmt"
	"regexp"
)

// Kind is what a wsl.exe command line asks for.
type Kind int

const (
	// List is `-l`/`--list` [--all] [--running] [-q|--quiet | -v|--verbose].
	List Kind = iota + 1
	// Status is `--status`.
	Status
	// Run is [-d NAME] [-u USER] [--cd DIR] then `-e`/`--exec` ARGV... or
	// `--` COMMAND LINE...
	Run
)

// Request is one parsed command line.
type Request struct {
	Kind                    Kind
	Running, Quiet, Verbose bool // List's options
	Distro, User, Dir       string
	// Shell is true for `--`: Argv is a command line for the user's
	// shell, not an argument vector.
	Shell bool
	Argv  []string
	// UTF8 is whether WSL_UTF8=1: wsl.exe's own messages are then UTF-8,
	// else UTF-16LE.
	UTF8 bool
}

// distroName is what WSL allows as a distro name.
var distroName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Parse reads a wsl.exe command line (without the program name). It
// refuses what wsl.exe refuses, and the interactive forms (no command: a
// login shell; options wslfwd never sends, like --install or --shutdown),
// which no test may fall into by accident.
func Parse(args []string) (Request, error) {
	if len(args) == 0 {
		return Request{}, fmt.Errorf("no command: an interactive shell is not served")
	}
	switch args[0] {
	case "-l", "--list":
		return parseList(args[1:])
	case "--status":
		if len(args) != 1 {
			return Request{}, fmt.Errorf("invalid command line argument: %s", args[1])
		}
		return Request{Kind: Status}, nil
	}
	return parseRun(args)
}

func parseList(args []string) (Request, error) {
	r := Request{Kind: List}
	for _, a := range args {
		switch a {
		case "--all":
		case "--running":
			r.Running = true
		case "-q", "--quiet":
			r.Quiet = true
		case "-v", "--verbose":
			r.Verbose = true
		default:
			return Request{}, fmt.Errorf("invalid command line argument: %s", a)
		}
	}
	if r.Quiet && r.Verbose {
		// wsl.exe's documentation lists them as alternatives; which one
		// wins is not said, so neither is taken.
		return Request{}, fmt.Errorf("--quiet and --verbose together")
	}
	return r, nil
}

func parseRun(args []string) (Request, error) {
	r := Request{Kind: Run}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-e", "--exec", "--":
			if i+1 == len(args) {
				return Request{}, fmt.Errorf("command line argument %s requires a value", a)
			}
			r.Shell, r.Argv = a == "--", args[i+1:]
			return r, nil
		}
		if i+1 == len(args) {
			return Request{}, fmt.Errorf("invalid command line argument: %s", a)
		}
		v := args[i+1]
		i++
		switch {
		case (a == "-d" || a == "--distribution") && r.Distro == "":
			if !distroName.MatchString(v) {
				return Request{}, fmt.Errorf("invalid distribution name: %q", v)
			}
			r.Distro = v
		case (a == "-u" || a == "--user") && r.User == "":
			r.User = v
		case a == "--cd" && r.Dir == "":
			r.Dir = v
		default:
			return Request{}, fmt.Errorf("invalid command line argument: %s", a)
		}
	}
	return Request{}, fmt.Errorf("no command: an interactive shell is not served")
}
