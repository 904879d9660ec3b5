package wsl

import (
	"fmt"
	"strings"
)

// Result is what one wsl.exe run gave back. Code is the exit status of
// wsl.exe, which is the Linux command's own when one ran.
type Result struct {
	Stdout, Stderr []byte
	Code           int
}

// Err is nil for exit status 0, else an error that quotes stderr (or
// stdout, where some commands complain), trimmed, for the user to read.
func (r Result) Err() error {
	if r.Code == 0 {
		return nil
	}
	said := strings.TrimSpace(string(r.Stderr))
	if said == "" {
		said = strings.TrimSpace(string(r.Stdout))
	}
	if said == "" {
		return fmt.Errorf("exit status %d", r.Code)
	}
	return fmt.Errorf("exit status %d: %s", r.Code, said)
}

// ExecArgs are wsl.exe's arguments to run argv in distro as user ("" for
// the distro's default user) without a shell: `-d NAME [-u USER] --exec
// argv...`. Without a shell nothing in argv is split or expanded, so a
// path with spaces (C:\Program Files\...) arrives as one argument.
func ExecArgs(distro, user string, argv ...string) []string {
	args := []string{"-d", distro}
	if user != "" {
		args = append(args, "-u", user)
	}
	return append(append(args, "--exec"), argv...)
}

// ListArgs are wsl.exe's arguments that list every registered distro by
// name (ParseNames reads the answer).
var ListArgs = []string{"-l", "-q"}

// Kernel is what `uname -r -m` says inside a distro.
type Kernel struct {
	Release string // 5.15.90.1-microsoft-standard-WSL2
	Machine string // x86_64, aarch64
}

// ParseUname reads the one line of `uname -r -m`.
func ParseUname(out []byte) (Kernel, error) {
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return Kernel{}, fmt.Errorf("uname -r -m printed %q, want a release and a machine", strings.TrimSpace(string(out)))
	}
	return Kernel{Release: f[0], Machine: f[1]}, nil
}

// WSL1 reports whether the kernel release is WSL 1's: WSL 1 has no Linux
// kernel and answers uname with a fixed "4.4.0-<build>-Microsoft". Any
// other release is a real kernel, so WSL 2, custom kernels included (their
// releases can be anything, so WSL 2 is not recognised by its own
// "microsoft-standard" suffix). The kernel is asked rather than the
// VERSION column of `wsl.exe -l -v`, whose header and state words are
// localised and whose layout is not documented.
func (k Kernel) WSL1() bool { return strings.HasSuffix(k.Release, "-Microsoft") }

// Infrastructure reports whether a distro is Docker Desktop's own
// (docker-desktop, docker-desktop-data): it runs no services of the
// user's, and the data one cannot run commands at all.
func Infrastructure(name string) bool { return strings.HasPrefix(name, "docker-desktop") }
