// Package token handles the bearer tokens that guard every RPC: creating
// them, loading them, attaching them to calls and checking them.
package token

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MetadataKey is the gRPC metadata key carrying the token, as
// "Bearer <token>".
const MetadataKey = "authorization"

// ReadFileName is the read token's file name, beside the admin token: the
// daemon's default on Windows, and where the CLI looks after the admin
// token.
const ReadFileName = "read.token"

// minLen is the shortest token accepted: 128 bits in hex.
const minLen = 32

// maxLen bounds what is read from a token file.
const maxLen = 512

// Generate returns a new random token: 32 random bytes in hex.
func Generate() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Load reads a token from path. Surrounding white space is ignored; an
// empty, short or non-printable token is an error.
func Load(path string) (string, error) {
	f, err := open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("token file %s does not exist: %w", path, err)
		}
		return "", fmt.Errorf("read token file: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// open opens path for reading. On Windows a file another process is
// linking or unlinking (LoadOrCreate's temporary link) refuses to open
// for a moment with a sharing violation: that is retried for up to a
// second rather than read as an error.
func open(path string) (*os.File, error) {
	for try := 0; ; try++ {
		f, err := os.Open(path)
		if err == nil || !busy(err) || try == 100 {
			return f, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Read reads a token from r to the end, bounded: one Read may return less
// than the file holds (pipes, network and 9p mounts such as /mnt/c). path
// names r in errors.
func Read(r io.Reader, path string) (string, error) {
	buf, err := io.ReadAll(io.LimitReader(r, maxLen+1))
	if err != nil {
		return "", fmt.Errorf("read token file %s: %w", path, err)
	}
	if len(buf) > maxLen {
		return "", fmt.Errorf("token file %s: longer than %d bytes", path, maxLen)
	}
	return Parse(string(buf))
}

// Parse validates a token given as text.
func Parse(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) < minLen {
		return "", fmt.Errorf("token is %d characters, want at least %d", len(t), minLen)
	}
	for _, r := range t {
		if r <= ' ' || r > '~' {
			return "", errors.New("token contains white space or non-ASCII characters")
		}
	}
	return t, nil
}

// LoadOrCreate loads the token at path, creating it with owner-only
// permissions (0600, directory 0700) when it does not exist. created
// reports whether a new token was written.
func LoadOrCreate(path string) (tok string, created bool, err error) {
	tok, err = Load(path)
	if err == nil {
		return tok, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("create token directory: %w", err)
	}
	tok, err = Generate()
	if err != nil {
		return "", false, err
	}
	// Write the whole token to a temporary file (os.CreateTemp makes it
	// 0600), then link it into place:
	// the link fails if another process got there first, and nobody ever
	// sees a half-written token.
	f, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return "", false, fmt.Errorf("create token file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", false, fmt.Errorf("write token file: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			tok, err = Load(path)
			return tok, false, err
		}
		return "", false, fmt.Errorf("create token file: %w", err)
	}
	return tok, true, nil
}

// Equal compares two tokens in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// prefix begins an authorization metadata value that carries a token.
const prefix = "Bearer "

// Header is the authorization metadata value that carries tok.
func Header(tok string) string { return prefix + tok }

// FromHeader extracts the token from an "authorization" metadata value.
func FromHeader(v string) (string, bool) {
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	return v[len(prefix):], true
}
