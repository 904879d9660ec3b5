// Package e2e holds wslfwd's end-to-end tests: the real daemon, agent and
// CLI, built from the work tree, run in a netlab lab, and the tests check
// from lan what a user on the LAN would see. Each test builds its own
// topology. They need root and Linux, and skip otherwise.
package e2e
