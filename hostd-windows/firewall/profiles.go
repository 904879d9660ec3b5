package firewall

import (
	"fmt"
	"slices"

	"github.com/wslfwd/wslfwd/hostd-windows/statefile"
)

// The profiles a port rule applies in are set when it is made; netsh and
// the Hyper-V cmdlet change them only by remaking it, and the listing Sync
// reads back names only. So the profiles the rules were made in are kept
// in a file, and a daemon started with other ones (firewall_profiles
// narrowed to stop exposing forwards on public networks) remakes them.

// ProfilesFile is the file's name in the daemon's state directory.
const ProfilesFile = "firewall-profiles.json"

// profilesFile is the file's format.
type profilesFile struct {
	Version  int      `json:"version"`
	Profiles []string `json:"profiles"`
}

// Remember keeps in the file at path the profiles f's rules were made
// in. When the file names others, or none (no file yet, or one that does
// not read), the next Sync remakes every rule of f's in f's profiles and
// then writes the file; a firewall whose rules could not all be remade
// is tried again at the next Sync.
func (f *Firewall) Remember(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.memo = path
	made, err := loadProfiles(path)
	f.remake = err != nil || !sameProfiles(made, f.profiles)
	f.remade = map[Kind]bool{}
	if err != nil {
		f.log.Warn("firewall rules will be remade: the profiles they were made in are not known", "err", err)
	} else if f.remake {
		f.log.Info("firewall rules will be remade in other profiles", "made_in", made, "profiles", f.profiles)
	}
}

// loadProfiles reads the profiles named in path; nil when there is no file.
func loadProfiles(path string) ([]string, error) {
	data, ok, err := statefile.Load(path)
	if err != nil || !ok {
		return nil, err
	}
	var pf profilesFile
	if err := statefile.DecodeJSON(data, &pf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if pf.Version != 1 {
		return nil, fmt.Errorf("%s: version %d, this wslfwd reads version 1", path, pf.Version)
	}
	return pf.Profiles, nil
}

// saveProfiles writes profiles to path; no path, nothing.
func saveProfiles(path string, profiles []string) error {
	if path == "" {
		return nil
	}
	if err := statefile.WriteAtomic(path, statefile.EncodeJSON(profilesFile{Version: 1, Profiles: profiles}), 0o600); err != nil {
		return fmt.Errorf("remember the firewall rules' profiles: %w", err)
	}
	return nil
}

// sameProfiles reports whether a and b name the same profiles, in any
// order; nil (not known) is never the same.
func sameProfiles(a, b []string) bool {
	if a == nil {
		return false
	}
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
