package wsl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/wslfwd/wslfwd/internal/winexec"
)

// ListDistros runs `wsl.exe -l -q`, or with runningOnly `wsl.exe -l
// --running -q`. A non-zero exit is no error: wsl.exe exits so when
// nothing runs, and says why in words (Said). The error is set only when
// wsl.exe could not be run. Distros belong to a Windows user: run as
// LocalSystem (the service) this lists none of the user's.
func ListDistros(ctx context.Context, runningOnly bool) (DistroList, error) {
	args := ListArgs
	if runningOnly {
		args = []string{"-l", "--running", "-q"}
	}
	r, err := Run(ctx, nil, args...)
	if err != nil {
		return DistroList{}, err
	}
	return ParseNames(r.Stdout), nil
}

// Run runs %SystemRoot%\System32\wsl.exe with args and stdin, with
// WSL_UTF8=1 (ParseNames takes UTF-16LE too, for a wsl.exe that ignores
// it). The error is set only when wsl.exe could not be run; its exit
// status is in the result.
func Run(ctx context.Context, stdin []byte, args ...string) (Result, error) {
	path := winexec.SystemPath(`System32\wsl.exe`)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "WSL_UTF8=1")
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return Result{}, fmt.Errorf("run %s: %w", path, err)
	}
	return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Code: cmd.ProcessState.ExitCode()}, nil
}
