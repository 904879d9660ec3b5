package install

import (
	"fmt"
	"regexp"

	"github.com/wslfwd/wslfwd/internal/endpoint"
)

// Where the agent lives inside the distro. Under a root (--root) each is
// taken below it; what runs inside the distro always names these.
const (
	binPath      = "/usr/local/bin/wslfwd-agent"
	configDir    = "/etc/wslfwd"
	tokenPath    = "/etc/wslfwd/token"
	envPath      = "/etc/wslfwd/agent.env"
	manifestPath = "/etc/wslfwd/install.json"
	unitName     = "wslfwd-agent.service"
	unitPath     = "/etc/systemd/system/" + unitName
	wslConfPath  = "/etc/wsl.conf"
	logPath      = "/var/log/wslfwd-agent.log"
)

// distroName is what WSL accepts as a distro name; hostChars what a host
// name, an IPv4 or IPv6 address and a port are made of.
var (
	distroName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	hostChars  = regexp.MustCompile(`^[A-Za-z0-9.:\[\]-]+$`)
)

// checkDistro refuses a name WSL would not give a distro: it goes into
// the boot command, so nothing else may.
func checkDistro(name string) error {
	if name == "" {
		return fmt.Errorf("no distro name: pass --distro, or run through wsl.exe, which sets WSL_DISTRO_NAME")
	}
	if !distroName.MatchString(name) {
		return fmt.Errorf("distro name %q: want letters, digits, '.', '-' and '_' only, as WSL allows", name)
	}
	return nil
}

// checkHost checks --host as the agent would, and refuses characters a
// shell or wsl.conf would read specially: it goes into the boot command.
func checkHost(host string) error {
	if host == "" {
		return nil
	}
	if _, err := endpoint.ParseHost(host); err != nil {
		return err
	}
	if !hostChars.MatchString(host) {
		return fmt.Errorf("--host %q: want a host name or address, and an optional :port", host)
	}
	return nil
}

// bootCommand starts the agent in the background, in the boot command of
// wsl.conf and, without systemd, at install. The boot command does not
// see WSL_DISTRO_NAME, hence --distro. The agent opens its log itself
// (--log-file): the shell's ">>" would follow a symlink that a user who
// may write in /var/log (group syslog, on Ubuntu) put at its path.
func bootCommand(distro, host string) string {
	args := "run --token-file " + tokenPath + " --distro " + distro + " --log-file " + logPath
	if host != "" {
		args += " --host " + host
	}
	return "nohup " + binPath + " " + args + " >/dev/null 2>&1 &"
}

// envFile is the unit's environment: systemd services do not inherit
// WSL_DISTRO_NAME from wsl.exe.
func envFile(distro, host string) string {
	s := "WSL_DISTRO_NAME=" + distro + "\n"
	if host != "" {
		s += "WSLFWD_AGENT_ARGS=--host=" + host + "\n"
	}
	return s
}
