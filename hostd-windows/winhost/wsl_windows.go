package winhost

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/winhost/winexec"
	"github.com/wslfwd/wslfwd/hostd-windows/winhost/wintext"
)

// ListDistros runs `wsl.exe -l -v` and parses what it prints.
func ListDistros(ctx context.Context) ([]Distro, error) {
	cmd := exec.CommandContext(ctx, winexec.SystemPath(`System32\wsl.exe`), "-l", "-v")
	out, err := cmd.Output()
	if err != nil {
		// wsl.exe exits non-zero with its message on stdout (UTF-16LE).
		return nil, fmt.Errorf("wsl.exe -l -v: %w: %s", err, strings.TrimSpace(wintext.Decode(out)))
	}
	return ParseList(out)
}
