package controlclient

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/wslfwd/wslfwd/internal/token"
)

// TokenPaths lists, in the order tried, where the CLI looks for a token when
// --token-file is not given.
//
//   - Windows: the daemon's own files under ProgramData\wslfwd (the known
//     folder, never %ProgramData%): its admin token "token" (readable by
//     administrators), then its read token "read.token" (readable by every
//     user), good for the read commands.
//   - WSL: a token the user copied in. /etc/wslfwd/token is the agent's token,
//     which ControlService rejects, so it is never tried.
//   - Linux outside WSL (the daemon runs here): the daemon's state directory.
func TokenPaths(p Place, env Env) []string {
	switch p.Kind {
	case Windows:
		dir, err := env.ProgramData()
		if err != nil || dir == "" {
			dir = `C:\ProgramData`
		}
		dir = strings.TrimRight(dir, `\`) + `\wslfwd\`
		return []string{dir + "token", dir + token.ReadFileName}
	case WSL:
		var paths []string
		if cfg := env.Getenv("XDG_CONFIG_HOME"); cfg != "" && path.IsAbs(cfg) {
			paths = append(paths, path.Join(cfg, "wslfwd", "token"))
		} else if home, err := env.HomeDir(); err == nil && home != "" {
			paths = append(paths, path.Join(home, ".config", "wslfwd", "token"))
		}
		return append(paths, "/etc/wslfwd/cli.token")
	case Linux:
		return []string{"/var/lib/wslfwd/token", path.Join("/var/lib/wslfwd", token.ReadFileName)}
	default:
		return nil
	}
}

// TokenHint says how to get a token onto the machine the CLI runs on.
func TokenHint(p Place) string {
	switch p.Kind {
	case Windows:
		return "the daemon's admin token is readable from an elevated prompt only, its read token (status, forwards, agents, watch) by every user once `wslfwd-hostd install` has made it: run wslfwd elevated, run install again, or save the output of `wslfwd-hostd token` (elevated) to a file and pass --token-file"
	case WSL:
		distro := p.Distro
		if distro == "" {
			distro = "<distro>"
		}
		return fmt.Sprintf("in an elevated Windows prompt run `wslfwd-hostd token | wsl -d %s sh -c \"mkdir -p ~/.config/wslfwd && umask 077 && cat > ~/.config/wslfwd/token\"`, or pass --token-file", distro)
	default:
		return "copy the daemon's token (<state-dir>/token, /var/lib/wslfwd/token by default) or pass --token-file"
	}
}

// NoTokenError says every place a token was looked for, why each failed,
// and what to do.
type NoTokenError struct {
	Tried []string // "path (reason)"
	Hint  string
}

func (e *NoTokenError) Error() string {
	tried := "nowhere"
	if len(e.Tried) > 0 {
		tried = strings.Join(e.Tried, ", ")
	}
	return fmt.Sprintf("no token: tried %s; %s", tried, e.Hint)
}

// FindToken loads the token from flagPath when set (and only from there),
// else from the first default path (TokenPaths) that holds a valid token.
// It returns the token and the file it came from.
func FindToken(flagPath string, p Place, env Env) (tok, from string, err error) {
	if flagPath != "" {
		tok, err := env.LoadToken(flagPath)
		if err != nil {
			return "", "", fmt.Errorf("--token-file: %w", err)
		}
		return tok, flagPath, nil
	}
	var tried []string
	for _, path := range TokenPaths(p, env) {
		tok, err := env.LoadToken(path)
		if err == nil {
			return tok, path, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%s)", path, reason(err)))
	}
	return "", "", &NoTokenError{Tried: tried, Hint: TokenHint(p)}
}

// reason shortens a load error for the "tried" list.
func reason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	default:
		return err.Error()
	}
}
