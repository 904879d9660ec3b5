//go:build linux

package adversary

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/internal/token"
)

// The real daemon refuses to start when two roles share a token (an agent
// token holder would be an admin) or a token file others can read, exits
// 1 and says which files and how to fix them.
func TestInputDaemonRefusesUnsafeTokens(t *testing.T) {
	env := startLab(t)
	shared := strings.Repeat("5a", 32) + "\n"
	for name, tc := range map[string]struct {
		files func(dir string) []string
		want  func(dir string) []string
	}{
		"admin token is the agent token": {
			func(dir string) []string {
				return []string{"--token-file", writeFile(t, filepath.Join(dir, "token"), shared, 0o600),
					"--agent-token-file", writeFile(t, filepath.Join(dir, "agent.token"), shared, 0o600)}
			},
			func(dir string) []string {
				return []string{"the admin token (" + filepath.Join(dir, "token") + ") and the agent token (" +
					filepath.Join(dir, "agent.token") + ") are the same",
					"delete " + filepath.Join(dir, "agent.token") + " and start the daemon again"}
			}},
		"read token is the agent token": {
			func(dir string) []string {
				return []string{"--agent-token-file", writeFile(t, filepath.Join(dir, "agent.token"), shared, 0o600),
					"--read-token-file", writeFile(t, filepath.Join(dir, "read.token"), shared, 0o600)}
			},
			func(dir string) []string {
				return []string{"the agent token (" + filepath.Join(dir, "agent.token") + ") and the read token (" +
					filepath.Join(dir, "read.token") + ") are the same"}
			}},
		"admin token readable by everyone": {
			func(dir string) []string {
				return []string{"--token-file", writeFile(t, filepath.Join(dir, "token"), shared, 0o644)}
			},
			func(dir string) []string {
				return []string{"admin token: " + filepath.Join(dir, "token") + " is open to group or others (mode 0644)",
					"chmod 600 " + filepath.Join(dir, "token")}
			}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := privateDir(t, "state")
			args := append([]string{"run", "--backend", "relay", "--listen", "127.0.0.1:17899", "--state-dir", dir}, tc.files(dir)...)
			o := runIn(t, env.Lab.WinHost, nil, nil, env.Bin.Daemon, args...)
			wantRefused(t, "wslfwd-hostd run", o, 1, tc.want(dir)...)
		})
	}
}

// The real agent refuses a token file group or others may read, before
// it ever connects, and says to chmod 600 it.
func TestInputAgentRefusesOpenTokenFile(t *testing.T) {
	env := startLab(t)
	tok, err := token.Load(env.AgentTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, filepath.Join(privateDir(t, "etc"), "token"), tok+"\n", 0o644)
	o := runIn(t, env.Lab.WSL, nil, []string{"WSL_DISTRO_NAME=Leaky"}, env.Bin.Agent,
		"run", "--token-file", path, "--networking-mode", "nat", "--distro", "Leaky")
	wantRefused(t, "wslfwd-agent run", o, 1,
		"token file: "+path+" is open to group or others (mode 0644)", "run chmod 600 "+path)
	ctx := t.Context()
	if a, err := env.Agent(ctx, "Leaky"); err != nil || a != nil {
		t.Errorf("the daemon lists agent Leaky: %v, %v", a, err)
	}
}
