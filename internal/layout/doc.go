// Package layout holds no code: its test checks that imports run one way.
// The module's layers, bottom up: gen/ (imports nothing of ours);
// internal/; the three programs agent-linux/, hostd-windows/ and cli/, side
// by side, none importing another; lab/ on top, which may import anything.
// A package imports only from its own layer or below (ARCHITECTURE.md,
// Layering).
package layout
