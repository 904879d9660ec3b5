// Package dist holds the files that ship beside wslfwd-agent, so that
// `wslfwd-agent install` and the release packages carry the same ones.
package dist

import _ "embed"

// Unit is the systemd unit, wslfwd-agent.service.
//
//go:embed wslfwd-agent.service
var Unit string
