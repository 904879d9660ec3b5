// Command release builds wslfwd: its binaries for developers (build.sh) and
// its releases. It lives in the tools module so that the packaging library
// stays out of the product's go.mod. From tools/:
//
//	go run ./release binaries [--snapshot] [--version V] [--out DIR]
//	go run ./release dist [--snapshot] [--version V] [--out DIR] [--base-url URL]
//	go run ./release version [--snapshot] [--version V]
//
// binaries builds every binary a release ships into DIR/<goos>_<goarch>/
// (default bin/ of the repository). dist builds them and writes the release
// into DIR (default dist/, which must be empty): Windows zips, Linux
// tarballs, the agent's .deb and .rpm, SHA256SUMS, and the Scoop and WinGet
// manifests, which download from URL (default the GitHub release of the
// tag). version prints the version the others would use.
//
// The version comes from --version or else git describe. A release needs a
// MAJOR.MINOR.PATCH version and a clean tree; --snapshot takes any version
// and marks it as a snapshot ("v0.0.0-snapshot.19ca763").
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("usage: release binaries|dist|version [flags]")
	}
	cmd := args[0]
	if cmd != "binaries" && cmd != "dist" && cmd != "version" {
		return fmt.Errorf("unknown command %q: want binaries, dist or version", cmd)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	snapshot := fs.Bool("snapshot", false, "accept any version and mark it a snapshot; allow uncommitted changes")
	ver := fs.String("version", "", "the version (default: git describe)")
	out := fs.String("out", "", "where to write (default: bin/ or dist/ of the repository)")
	baseURL := fs.String("base-url", "", "the URL the release's files are downloaded from (default: the GitHub release)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	r, err := newRelease(*ver, *snapshot)
	if err != nil {
		return err
	}
	r.out, r.baseURL = *out, *baseURL
	switch cmd {
	case "binaries":
		return r.runBinaries()
	case "dist":
		return r.runDist(*snapshot)
	}
	fmt.Println(r.v.Tag())
	return nil
}

// newRelease finds the repository, the version and the commit's time.
func newRelease(ver string, snapshot bool) (release, error) {
	root, err := git("", "rev-parse", "--show-toplevel")
	if err != nil {
		return release{}, err
	}
	r := release{root: root}
	if ver == "" {
		if ver, err = git(root, "describe", "--tags", "--always", "--dirty"); err != nil {
			return r, err
		}
	}
	if snapshot {
		r.v = snapshotVersion(ver)
	} else if r.v, err = parseVersion(ver); err != nil {
		return r, err
	}
	r.mtime, err = sourceTime(root)
	return r, err
}

func (r release) runBinaries() error {
	if r.out == "" {
		r.out = filepath.Join(r.root, "bin")
	}
	if err := buildAll(r.root, r.out, r.v); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "built %s into %s\n", r.v.Tag(), r.out)
	return nil
}

func (r release) runDist(snapshot bool) error {
	if r.out == "" {
		r.out = filepath.Join(r.root, "dist")
	}
	if r.baseURL == "" {
		r.baseURL = meta.homepage + "/releases/download/" + r.v.Tag()
	}
	r.baseURL = strings.TrimSuffix(r.baseURL, "/")
	if !snapshot {
		changed, err := git(r.root, "status", "--porcelain")
		if err != nil {
			return err
		}
		if changed != "" {
			return fmt.Errorf("a release is built from committed code, and the tree has changes:\n%s\ncommit them or build a --snapshot", changed)
		}
	}
	names, err := r.dist()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "released %s into %s: %s, SHA256SUMS, scoop/, winget/\n", r.v.Tag(), r.out, strings.Join(names, ", "))
	return nil
}

// sourceTime is the time every file of a release carries: SOURCE_DATE_EPOCH
// when set, else the commit's time.
func sourceTime(root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = git(root, "log", "-1", "--format=%ct"); err != nil {
			return time.Time{}, err
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("source time %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// git runs git in dir and returns its output, trimmed.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
