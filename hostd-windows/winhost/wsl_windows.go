package winhost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/winhost/wintext"
)

// wslPath is wsl.exe by absolute path, never looked up on PATH.
func wslPath() string {
	root := os.Getenv("SystemRoot")
	if root == "" || !filepath.IsAbs(root) {
		root = `C:\Windows`
	}
	return filepath.Join(root, "System32", "wsl.exe")
}

// ListDistros runs `wsl.exe -l -v` and parses what it prints.
func ListDistros(ctx context.Context) ([]Distro, error) {
	cmd := exec.CommandContext(ctx, wslPath(), "-l", "-v")
	out, err := cmd.Output()
	if err != nil {
		// wsl.exe exits non-zero with its message on stdout (UTF-16LE).
		return nil, fmt.Errorf("wsl.exe -l -v: %w: %s", err, strings.TrimSpace(wintext.Decode(out)))
	}
	return ParseList(out)
}
