// Package adversary attacks a real daemon, in a netlab lab, in the ways
// SECURITY.md's "Bounded resources" guards against, and checks that each
// attack is refused or bounded: exhaust_* tests hold tens of thousands of
// connections without a token, huge header blocks, unread Watch streams
// and silent agent sessions against the daemon, and assert it keeps
// answering its admin within a second at a bounded resident set. They need
// root and Linux, and skip otherwise.
package adversary
