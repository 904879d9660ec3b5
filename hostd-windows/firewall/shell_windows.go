package firewall

import (
	"context"

	"github.com/wslfwd/wslfwd/internal/winexec"
)

// SystemShell runs netsh and Windows PowerShell by absolute path.
type SystemShell struct{}

// Netsh runs the script with `netsh -f`.
func (SystemShell) Netsh(ctx context.Context, script string) ([]byte, error) {
	return winexec.Netsh(ctx, script)
}

// PowerShell runs the script in powershell.exe.
func (SystemShell) PowerShell(ctx context.Context, script string) ([]byte, error) {
	return winexec.PowerShell(ctx, script)
}
