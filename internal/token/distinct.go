package token

import "fmt"

// RoleFile is one role's token and the file it came from.
type RoleFile struct {
	Role  string // "admin", "read", "agent"
	Path  string
	Token string // empty: the role has no token, nothing to compare
}

// CheckDistinct refuses two roles that share a token: whoever holds the
// weaker one (root in any distro can read the agent token) would have the
// stronger one's rights. The error names both files and the fix: delete
// one, and the daemon makes a new token in its place at the next start.
func CheckDistinct(files []RoleFile) error {
	for i, a := range files {
		for _, b := range files[i+1:] {
			if a.Token == "" || b.Token == "" || !Equal(a.Token, b.Token) {
				continue
			}
			return fmt.Errorf("the %s token (%s) and the %s token (%s) are the same, so a holder of either has both roles' rights: "+
				"delete %s and start the daemon again to have a new token made there (then hand the new %s token out again)",
				a.Role, a.Path, b.Role, b.Path, b.Path, b.Role)
		}
	}
	return nil
}
