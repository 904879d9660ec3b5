package winsvc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// InstallDirName is the folder under %ProgramFiles% that install copies
// the programs to and registers the service from. The service runs as
// LocalSystem: registered from wherever install ran (a Downloads folder a
// standard user can write), anyone who could replace the program there
// would run code as SYSTEM at the next start. Under %ProgramFiles% only
// administrators (and TrustedInstaller) can write, and install refuses a
// folder it finds otherwise.
const InstallDirName = "wslfwd"

// DaemonExe and CLIExe are the programs' names in the install folder.
// The daemon is copied from the running program, whatever its name; the
// CLI is copied when it lies beside it (release archives ship both).
const (
	DaemonExe = "wslfwd-hostd.exe"
	CLIExe    = "wslfwd.exe"
)

// Agents are the Linux agents a release ships beside the programs, one
// per architecture, as `wslfwd setup` looks for them. They are copied
// with the CLI, so that setup run later from the installed copy (for a
// distro made after install) still finds an agent to put in.
var Agents = []string{
	filepath.Join("linux-amd64", "wslfwd-agent"),
	filepath.Join("linux-arm64", "wslfwd-agent"),
}

// Well-known SIDs trusted with the programs and the state directory.
const (
	SIDSystem         = "S-1-5-18"
	SIDAdministrators = "S-1-5-32-544"
	// SIDTrustedInstaller owns and writes %ProgramFiles% itself.
	SIDTrustedInstaller = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	// SIDCreatorOwner in an inheritable entry stands for whoever creates
	// a file inside: only someone who can already write there.
	SIDCreatorOwner = "S-1-3-0"
)

// ACE is one entry of a DACL, as far as the writability check cares.
type ACE struct {
	Allow bool   // an access-allowed entry; deny entries only narrow access
	SID   string // whom it names, as S-1-…
	Mask  uint32 // the access it grants or denies
}

// writeAccess are the rights that let a holder change what a folder
// holds or who may: write or add files, add folders, delete children,
// delete, change the DACL or the owner, and the generic rights that
// include them. Entries that only apply to children count too: they
// reach the programs install copies in.
const writeAccess = 0x2 | 0x4 | 0x40 | 0x10000 | 0x40000 | 0x80000 | 0x10000000 | 0x40000000

// WritableBy names whoever other than SYSTEM, Administrators,
// TrustedInstaller and self (the administrator running install, elevated)
// may write to a folder with this owner and DACL, or "" when nobody may.
// The owner counts: an owner can always rewrite the DACL.
func WritableBy(owner, self string, dacl []ACE) string {
	trusted := []string{SIDSystem, SIDAdministrators, SIDTrustedInstaller, self}
	if !slices.Contains(trusted, owner) {
		return owner + " (the owner)"
	}
	var who []string
	for _, e := range dacl {
		if e.Allow && e.Mask&writeAccess != 0 && e.SID != SIDCreatorOwner &&
			!slices.Contains(trusted, e.SID) && !slices.Contains(who, e.SID) {
			who = append(who, e.SID)
		}
	}
	return strings.Join(who, ", ")
}

// Files is what placing the programs needs of the file system: the
// Windows one is thin (install_windows.go); tests use a fake.
type Files interface {
	// Exists reports whether path exists.
	Exists(path string) (bool, error)
	// MkdirAll creates dir, inheriting its parent's access.
	MkdirAll(dir string) error
	// WritableBy names who beyond administrators may write to dir
	// (see WritableBy), "" for nobody.
	WritableBy(dir string) (string, error)
	// Copy replaces dst with a copy of src, also when dst is a program
	// that runs (the service being updated).
	Copy(src, dst string) error
}

// Placement is where install put the programs.
type Placement struct {
	Exe    string   // the daemon to register
	Copied []string // the files copied, for the report
}

// Place copies the daemon (exe) and the CLI beside it, if any, into
// programFiles\wslfwd and returns the daemon's path there. Run from that
// folder already (an update by the installed program), it copies
// nothing. A folder that users beyond administrators may write is
// refused: registering a program from it would hand them SYSTEM.
func Place(fs Files, exe, programFiles string) (Placement, error) {
	if !filepath.IsAbs(programFiles) {
		return Placement{}, fmt.Errorf("the Program Files folder %q is not an absolute path", programFiles)
	}
	dir := filepath.Join(programFiles, InstallDirName)
	if err := fs.MkdirAll(dir); err != nil {
		return Placement{}, fmt.Errorf("create %s: %w", dir, err)
	}
	who, err := fs.WritableBy(dir)
	if err != nil {
		return Placement{}, fmt.Errorf("check who may write to %s: %w", dir, err)
	}
	if who != "" {
		return Placement{}, fmt.Errorf("%s may be written by %s, so the service (which runs as SYSTEM) cannot be registered from it: "+
			"remove those rights (icacls \"%s\" /reset /t restores what Program Files gives) or delete the folder, then run wslfwd-hostd install again",
			dir, who, dir)
	}
	p := Placement{Exe: filepath.Join(dir, DaemonExe)}
	src := filepath.Dir(exe)
	if samePath(src, dir) {
		p.Exe = exe
		return p, nil
	}
	copies := [][2]string{{exe, p.Exe}}
	for _, name := range append([]string{CLIExe}, Agents...) {
		from := filepath.Join(src, name)
		switch ok, err := fs.Exists(from); {
		case err != nil:
			return Placement{}, fmt.Errorf("look for %s beside %s: %w", name, exe, err)
		case ok:
			copies = append(copies, [2]string{from, filepath.Join(dir, name)})
		}
	}
	for _, c := range copies {
		if err := fs.MkdirAll(filepath.Dir(c[1])); err != nil {
			return Placement{}, fmt.Errorf("create %s: %w", filepath.Dir(c[1]), err)
		}
		if err := fs.Copy(c[0], c[1]); err != nil {
			return Placement{}, fmt.Errorf("copy %s to %s: %w", c[0], c[1], err)
		}
		p.Copied = append(p.Copied, c[1])
	}
	return p, nil
}

// samePath compares Windows paths: case-insensitively, cleaned.
func samePath(a, b string) bool {
	return strings.EqualFold(filepath.Clean(a), filepath.Clean(b))
}

// StateFound is what install makes of the state directory it finds.
type StateFound int

const (
	// StateTrusted: none yet, or one owned by SYSTEM or Administrators,
	// which only an install (SetAdminOwner) or the daemon makes.
	StateTrusted StateFound = iota
	// StateUnsecured: one owned by the installing account itself. An
	// install always makes Administrators the owner, so this one was made
	// otherwise: by hand, or by any process of the account, elevated or
	// not (UAC gives both the same user). Its tokens, ledger and files
	// may be planted, so it is set aside (SetAside), never used.
	StateUnsecured
)

// CheckStateOwner judges a state directory that existed before install
// by its owner ("" when it does not exist yet; self is the user running
// install, elevated). One another account owns is refused: %ProgramData%
// lets every user create a folder, so a standard user could make
// %ProgramData%\wslfwd first, with a token or ledger of their choosing
// and rights of their own; taking it over would trust what they planted.
func CheckStateOwner(dir, owner, self string) (StateFound, error) {
	switch owner {
	case "", SIDSystem, SIDAdministrators:
		return StateTrusted, nil
	case self:
		return StateUnsecured, nil
	}
	return 0, fmt.Errorf("%w: %s already exists and is owned by %s, not by Administrators or SYSTEM: an account other than an administrator "+
		"made it, so what it holds (tokens, ledger) cannot be trusted. Look inside, delete it (rmdir /s /q \"%s\"), then run wslfwd-hostd install again",
		ErrForeignStateDir, dir, owner, dir)
}

// SetAside renames dir, a state directory install does not trust, to a
// name beside it that says so and returns that name: nothing in it is
// used or deleted, and the user can look at what was there.
func SetAside(dir string, now time.Time) (string, error) {
	base := dir + ".untrusted-" + now.Format("20060102-150405")
	for i := 1; ; i++ {
		to := base
		if i > 1 {
			to = fmt.Sprintf("%s-%d", base, i)
		}
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			if err := os.Rename(dir, to); err != nil {
				return "", fmt.Errorf("set aside %s: %w", dir, err)
			}
			return to, nil
		} else if err != nil {
			return "", fmt.Errorf("set aside %s: %w", dir, err)
		}
	}
}

// CheckConfigNotIn refuses to set aside dir, a state directory install
// does not trust, when the config file install was given (config, "" for
// none) lies in it: the service would then start without it. The file is
// as untrusted as the folder, so it is not carried over either; the user
// looks at it and puts it back once install has made the folder anew.
func CheckConfigNotIn(dir, config string) error {
	if config == "" {
		return nil
	}
	if !InDir(dir, config) {
		return nil
	}
	return fmt.Errorf("%s, which holds the config file given (%s), is owned by your own account rather than by Administrators "+
		"as install makes it: it was made outside of install, perhaps by a program running without elevation, so nothing in it can be trusted, "+
		"the config included. Look at the config and move it out of that folder, then run wslfwd-hostd install without --config "+
		"(it sets the folder aside and makes it anew), put the config back into the new folder from an elevated prompt, and run install again with --config",
		dir, config)
}

// InDir reports whether path, made absolute, lies inside dir.
func InDir(dir, path string) bool {
	path, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// SetAsideNote tells the user why install set dir aside as to.
func SetAsideNote(dir, to string) string {
	return fmt.Sprintf("%s existed, owned by your own account rather than by Administrators as install makes it: it was made outside of install, "+
		"perhaps by a program running without elevation, so nothing in it is used (tokens, ledger). It was moved to %s and a new one made. "+
		"If you put files there yourself (a config.toml), look at them and copy them back.\n", dir, to)
}

// ErrForeignStateDir marks a state directory another account made.
var ErrForeignStateDir = errors.New("state directory not made by an administrator")
