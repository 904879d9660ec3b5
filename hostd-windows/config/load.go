package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/wslfwd/wslfwd/internal/fileperm"
)

// Load reads and validates the TOML file at path. Keys it does not set keep
// their defaults. Every error names the file, and the line and key when
// known; unknown keys are errors, so a typo never silently does nothing.
func Load(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, data)
}

// maxFileSize bounds the config file. A config with a thousand static
// forwards is about 100 KiB; one far larger is a mistake (or /dev/zero),
// and is refused rather than read into memory.
const maxFileSize = 1 << 20

// readFile reads the regular file at path once nobody but its owner (and,
// on Windows, SYSTEM and Administrators) may change it
// (fileperm.CheckConfig): it names the token files, the state directory,
// the log file and the forwards, so whoever may change it has the daemon's
// rights at its next start. The check is on the open file that is then
// read. A FIFO or device is refused before it is opened, since opening
// one may block.
func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi); err != nil {
		return nil, err
	}
	if err := fileperm.CheckConfig(f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d KiB", path, maxFileSize>>10)
	}
	return data, nil
}

// checkRegular refuses path unless fi, its stat, is a regular file's.
func checkRegular(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	return nil
}

// Parse is Load on data already read; name is used in messages. It
// decodes (decode.go), sets the keys written over the defaults
// (file.apply) and validates; each step runs when the one before found no
// problem, and reports every problem it finds.
func Parse(name string, data []byte) (*Config, error) {
	keys := findKeys(data)
	c := Default()
	f, err := decode(data, keys)
	if f != nil {
		err = errors.Join(err, f.apply(c))
	}
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		return nil, locate(err, name, keys.lines)
	}
	return c, nil
}

// locate adds the file and line to every *Error in err and orders them by
// line. A key without a line of its own takes its parent's.
func locate(err error, name string, lines map[string]int) error {
	errs := Errors(err)
	for _, e := range errs {
		e.File = name
		for k := e.Key; k != "" && e.Line == 0; k = parentKey(k) {
			e.Line = lines[k]
		}
	}
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Key, b.Key))
	})
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// parentKey strips the last ".part" or "[i]" from a key path.
func parentKey(k string) string {
	if strings.HasSuffix(k, "]") {
		if i := strings.LastIndexByte(k, '['); i > 0 {
			return k[:i]
		}
	}
	// Quoted parts may contain dots; walk back over a trailing quoted part.
	if strings.HasSuffix(k, `"`) {
		if i := strings.LastIndex(k, `."`); i >= 0 {
			return k[:i]
		}
		return ""
	}
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i]
	}
	return ""
}

// ParsePortRange parses "80" or "8000-8100".
func ParsePortRange(s string) (PortRange, error) {
	first, last, isRange := strings.Cut(s, "-")
	a, err := parsePort(first)
	if err != nil {
		return PortRange{}, fmt.Errorf("%q: %w", s, err)
	}
	b := a
	if isRange {
		if b, err = parsePort(last); err != nil {
			return PortRange{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	if a > b {
		return PortRange{}, fmt.Errorf("range %q is backwards", s)
	}
	return PortRange{a, b}, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range 1-65535", n)
	}
	return uint16(n), nil
}
