// Package version holds the version every wslfwd binary reports.
package version

// Version is set at link time with
// -ldflags "-X github.com/wslfwd/wslfwd/internal/version.Version=v1.2.3".
// Builds without it report the development version.
var Version = "0.1.0-dev"
