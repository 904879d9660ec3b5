package wsl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/wslfwd/wslfwd/internal/winexec"
)

// ListDistros runs `wsl.exe -l -q`, or with runningOnly `wsl.exe -l
// --running -q`, with WSL_UTF8=1 (ParseNames takes UTF-16LE too, for a
// wsl.exe that ignores it). A non-zero exit is no error: wsl.exe exits so
// when nothing runs, and says why in words (Said). The error is set only
// when wsl.exe could not be run. Distros belong to a Windows user: run as
// LocalSystem (the service) this lists none of the user's.
func ListDistros(ctx context.Context, runningOnly bool) (DistroList, error) {
	args := []string{"-l", "-q"}
	if runningOnly {
		args = []string{"-l", "--running", "-q"}
	}
	path := winexec.SystemPath(`System32\wsl.exe`)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "WSL_UTF8=1")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return DistroList{}, fmt.Errorf("run %s: %w", path, err)
	}
	return ParseNames(out), nil
}
