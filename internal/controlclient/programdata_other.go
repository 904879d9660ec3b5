//go:build !windows

package controlclient

import "errors"

// programData: only Windows has a ProgramData folder.
func programData() (string, error) {
	return "", errors.New("ProgramData is a Windows folder")
}
