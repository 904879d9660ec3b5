package wslconf

import "bytes"

// file is what Add and Remove need to know of a wsl.conf.
type file struct {
	lines []line
	eol   string // the file's line ending, "\r\n" or "\n" (new files)
	// header is the index of the first [boot] line, headerEnd the
	// offset just past its text (before its line ending); -1 when none.
	header, headerEnd int
	// command is the index of the line of the first boot.command,
	// commandAt the offset where its value's text starts (past an
	// opening quote); -1 when none.
	command, commandAt int
}

// line is one physical line: conf[start:end] is its text, without the
// line ending.
type line struct {
	start, end int
	// continued is set when the line before ended in a backslash
	// inside a value: this line is part of that value.
	continued bool
}

func (l line) text(conf []byte) []byte { return conf[l.start:l.end] }

func parse(conf []byte) file {
	f := file{eol: "\n", header: -1, headerEnd: -1, command: -1, commandAt: -1}
	if i := bytes.IndexByte(conf, '\n'); i > 0 && conf[i-1] == '\r' {
		f.eol = "\r\n"
	}
	section := ""
	continues := false
	for start := 0; start < len(conf); {
		end := len(conf)
		next := end
		if i := bytes.IndexByte(conf[start:], '\n'); i >= 0 {
			end, next = start+i, start+i+1
		}
		if end > start && conf[end-1] == '\r' {
			end--
		}
		l := line{start: start, end: end, continued: continues}
		f.lines = append(f.lines, l)
		start = next
		if l.continued {
			_, continues = value(l.text(conf))
			continue
		}
		continues = f.read(l, conf, &section)
	}
	return f
}

// read notes a section header or a key line; it reports whether the
// line's value continues on the next line.
func (f *file) read(l line, conf []byte, section *string) bool {
	t := l.text(conf)
	lead := len(t) - len(bytes.TrimLeft(t, " \t"))
	t = t[lead:]
	if name, ok := sectionName(t); ok {
		*section = name
		if f.header < 0 && bytes.EqualFold([]byte(name), []byte("boot")) {
			f.header, f.headerEnd = len(f.lines)-1, l.end
		}
		return false
	}
	key, rest, ok := keyValue(t)
	if !ok {
		return false // a comment, a blank line, or one WSL skips
	}
	v := len(t) - len(rest) // the value's start within t
	if f.command < 0 && bytes.EqualFold([]byte(*section), []byte("boot")) && bytes.EqualFold(key, []byte("command")) {
		f.command, f.commandAt = len(f.lines)-1, l.start+lead+v
		if len(rest) > 0 && rest[0] == '"' {
			f.commandAt++
		}
	}
	_, cont := value(rest)
	return cont
}

// sectionName reads "[name]" followed by spaces or a comment.
func sectionName(t []byte) (string, bool) {
	if len(t) < 3 || t[0] != '[' || !isAlpha(t[1]) {
		return "", false
	}
	n := 2
	for n < len(t) && isAlnum(t[n]) {
		n++
	}
	if n == len(t) || t[n] != ']' {
		return "", false
	}
	tail := bytes.TrimLeft(t[n+1:], " \t")
	if len(tail) > 0 && tail[0] != '#' {
		return "", false
	}
	return string(t[1:n]), true
}

// keyValue reads "key = value", returning the key and the value's text
// from its first non-space character.
func keyValue(t []byte) (key, rest []byte, ok bool) {
	if len(t) == 0 || !isAlpha(t[0]) {
		return nil, nil, false
	}
	n := 1
	for n < len(t) && isAlnum(t[n]) {
		n++
	}
	rest = bytes.TrimLeft(t[n:], " \t")
	if len(rest) == 0 || rest[0] != '=' {
		return nil, nil, false
	}
	return t[:n], bytes.TrimLeft(rest[1:], " \t"), true
}

// value decodes a value's text as WSL does, up to a comment, and reports
// whether a backslash at its end continues it on the next line.
func value(t []byte) (string, bool) {
	var b []byte
	quoted := false
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == '"':
			quoted = !quoted
		case c == '\\' && i+1 == len(t):
			return string(b), true
		case c == '\\':
			i++
			b = append(b, unescape(t[i]))
		case c == '#' && !quoted:
			return string(b), false
		default:
			b = append(b, c)
		}
	}
	return string(b), false
}

func unescape(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'n':
		return '\n'
	case 't':
		return '\t'
	}
	return c
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }
